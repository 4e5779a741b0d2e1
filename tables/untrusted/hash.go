package untrusted

import (
	"time"

	"github.com/modhunt/modhunt/tables/fileinfo"
)

// DefaultHashMax is the default sha256 size cap: 128 MiB covers every
// shared library a distribution ships but the few giants (libxul,
// libLLVM), which live in trusted directories and so are rarely rows here.
const DefaultHashMax = 128 << 20

// DefaultHashBudget is how many bytes one scan may read to hash files the
// cache does not know yet. A host's untrusted modules are a few MiB each;
// the budget is there for the process that maps gigabytes of them to make
// every scan hash for minutes. Files hashed by earlier scans cost nothing,
// so successive scans fill in what one scan had to skip.
const DefaultHashBudget = 1 << 30

// DefaultHashTime is how long one scan may spend hashing: well inside
// osqueryd's watchdog window (a CPU-bound extension is stopped after 12 s
// over its share) and the 60 s table deadline.
const DefaultHashTime = 5 * time.Second

// skipBudget is sha256_skipped when the scan's hashing budget (bytes or
// time) ran out first.
const skipBudget = string(fileinfo.SkipBudget)
