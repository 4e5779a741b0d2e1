package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/loadstream"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/untrusted"

	"github.com/modhunt/modhunt/internal/safefile"
)

// maxFlagfile bounds the flag file: it holds a handful of flags.
const maxFlagfile = 64 << 10

// common holds the flags every mode shares.
type common struct {
	verbose      bool
	tableTimeout time.Duration
	concurrency  int
	policy       string
	rules        string
	memoryMiB    int
	hashMiB      int64
	hashTime     time.Duration
	// The load event stream (module_load_events), named as osquery's flags.
	eventsExpiry  int
	eventsMax     int
	disableEvents bool
	syscallHooks  bool
	// startEvents starts the stream when the tables are built: a host that
	// lives on (osqueryd's extension, the shell) buffers from its start.
	startEvents bool
}

// defaultMemoryMiB is the Go heap's soft limit. osqueryd's watchdog stops an
// extension whose memory grows 200 MB past its start, and a host agent that
// idles at 15 MB should not balloon to 2x its live heap between collections
// (GOGC's default) while it answers one large query.
const defaultMemoryMiB = 40

func (c *common) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.verbose, "verbose", false, "log at debug level (osqueryd passes this when it is verbose itself)")
	fs.DurationVar(&c.tableTimeout, "table_timeout", table.DefaultTimeout, "deadline for one table scan")
	fs.IntVar(&c.concurrency, "table_concurrency", table.DefaultConcurrency, "table scans that may run at once")
	// Known to the FlagSet for --help and the tolerant parse; parse reads it
	// from args itself, before the FlagSet runs.
	fs.String("flagfile", defaultFlagfile, "file of extra flags, one per line (osqueryd cannot pass flags to an extension)")
	fs.StringVar(&c.policy, "policy", "", "trust policy file (YAML) for untrusted_module_loads")
	fs.StringVar(&c.rules, "rules", "", "extra Sigma rule folders for module_detections, comma-separated")
	fs.IntVar(&c.memoryMiB, "memory_limit", defaultMemoryMiB, "soft limit of the Go heap in MiB (0: none; GOMEMLIMIT in the environment wins)")
	fs.Int64Var(&c.hashMiB, "hash_budget", untrusted.DefaultHashBudget>>20, "MiB one untrusted_module_loads scan may read to hash modules (cached sums are free)")
	fs.DurationVar(&c.hashTime, "hash_time", untrusted.DefaultHashTime, "time one untrusted_module_loads scan may spend hashing modules")
	fs.IntVar(&c.eventsExpiry, "events_expiry", int(loadstream.DefaultExpiry.Seconds()), "seconds module_load_events keeps an event (as osquery's --events_expiry; -1: until the buffer is full)")
	fs.IntVar(&c.eventsMax, "events_max", loadstream.DefaultMaxEvents, "events module_load_events buffers at most; past it the oldest are dropped and counted")
	fs.BoolVar(&c.disableEvents, "disable_events", false, "do not load the eBPF program behind module_load_events (it then answers no rows and its status says why)")
	fs.BoolVar(&c.syscallHooks, "events_syscall_hooks", false, "also see mprotect and memfd_create, through system call tracepoints: while they are attached every system call on the host takes the kernel's slow path (off: those two kinds are not reported; loads of memfd code still are, through mmap and exec)")
}

// eventsConfig is the event flags for tables.Build.
func (c *common) eventsConfig() deps.EventsConfig {
	expiry := time.Duration(c.eventsExpiry) * time.Second
	if c.eventsExpiry < 0 {
		expiry = -1
	}
	ev := deps.EventsConfig{Expiry: expiry, MaxEvents: c.eventsMax, Disabled: c.disableEvents, SyscallHooks: c.syscallHooks, StartNow: c.startEvents}
	if c.limitsMemory() && !c.disableEvents {
		ev.OnBufferBytes = func(n int64) { debug.SetMemoryLimit(c.memoryLimit(n)) }
	}
	return ev
}

// applyMemoryLimit sets the soft heap limit. It is soft: past it the
// collector runs more often (capped by the runtime at about half the CPU),
// it never fails an allocation.
func (c *common) applyMemoryLimit() {
	if !c.limitsMemory() {
		return
	}
	debug.SetMemoryLimit(c.memoryLimit(0))
}

func (c *common) limitsMemory() bool { return c.memoryMiB > 0 && os.Getenv("GOMEMLIMIT") == "" }

// memoryLimit is --memory_limit for the working set plus what the load
// event buffer holds now: the buffer is meant to stay full on a busy host,
// and a limit it could fill by itself would keep the collector running
// without pause, while one raised by the buffer's whole bound would let an
// idle host's heap grow that much for nothing.
func (c *common) memoryLimit(buffered int64) int64 {
	return int64(c.memoryMiB)<<20 + buffered
}

// parse reads the flag file first and then args, so the command line wins.
// tolerant drops unknown flags (the osqueryd launch mode); otherwise an
// unknown flag is an error.
func (c *common) parse(fs *flag.FlagSet, args []string, tolerant bool) ([]string, error) {
	path, explicit := flagfileIn(args)
	if path == "" {
		path = defaultFlagfile
	}
	lines, err := readFlagfile(path)
	switch {
	case errors.Is(err, iofs.ErrNotExist) && !explicit:
	case err != nil:
		return nil, err
	default:
		if _, dropped, err := parseTolerant(fs, lines); err != nil {
			return nil, fmt.Errorf("flagfile %s: %w", path, err)
		} else if len(dropped) > 0 {
			return nil, fmt.Errorf("flagfile %s: unknown flags %s", path, strings.Join(dropped, " "))
		}
	}
	defer c.applyMemoryLimit()
	if tolerant {
		rest, dropped, err := parseTolerant(fs, args)
		if len(dropped) > 0 {
			c.logger(os.Stderr).Warn("ignoring unknown flags", "flags", strings.Join(dropped, " "))
		}
		return rest, err
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

// flagfileIn finds --flagfile on the command line before the FlagSet sees it.
func flagfileIn(args []string) (path string, explicit bool) {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "flagfile" {
			continue
		}
		if hasVal {
			return val, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// readFlagfile returns the flags in path, refusing a file a non-root user
// could have written: the extension runs as root and these flags choose
// which policy and rules it trusts.
func readFlagfile(path string) ([]string, error) {
	// A FIFO would hang start-up before the extension logs a word.
	f, _, err := safefile.OpenTrusted(path, false)
	if err != nil {
		return nil, fmt.Errorf("flagfile %s: %w", path, err)
	}
	defer f.Close()
	data, err := safefile.ReadAll(f, maxFlagfile)
	if err != nil {
		return nil, fmt.Errorf("flagfile %s: %w", path, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "--") {
			return nil, fmt.Errorf("flagfile %s:%d: %q is not a --flag", path, n, line)
		}
		// "--name value" and "--name=value" are both accepted, as osquery's flagfile does.
		if name, val, ok := strings.Cut(line, " "); ok && !strings.Contains(name, "=") {
			line = name + "=" + strings.TrimSpace(val)
		}
		lines = append(lines, line)
	}
	return lines, nil
}

func (c *common) logger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if c.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func (c *common) guard(log *slog.Logger) *table.Guard {
	return table.NewGuard(c.tableTimeout, c.concurrency, log)
}

func (c *common) tables(log *slog.Logger) ([]*table.Table, error) {
	return tables.Build(deps.Deps{Log: log, Policy: c.policy, RuleDirs: splitList(c.rules), HashBudget: c.hashBudget(), HashTime: c.hashTime, Events: c.eventsConfig()})
}

// hashBudget is --hash_budget in bytes; 0 or less means the default.
func (c *common) hashBudget() int64 {
	if c.hashMiB <= 0 || c.hashMiB > math.MaxInt64>>20 {
		return 0
	}
	return c.hashMiB << 20
}

// splitList reads a comma-separated flag value, blanks trimmed and empty
// items dropped.
func splitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// parseTolerant parses args into fs, dropping flags fs does not define
// instead of failing: osqueryd may pass flags a given build does not know, and
// an extension that exits on them is an extension osqueryd respawns forever.
// It returns the positional arguments and the flags it dropped.
func parseTolerant(fs *flag.FlagSet, args []string) (rest, dropped []string, err error) {
	fs.SetOutput(io.Discard)
	var kept []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			kept = append(kept, args[i:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			kept = append(kept, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if fs.Lookup(name) != nil || name == "h" || name == "help" {
			kept = append(kept, a)
			continue
		}
		dropped = append(dropped, a)
		// "--unknown value": the value goes with it, as osqueryd writes its
		// own flags "--socket PATH".
		if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			i++
			dropped = append(dropped, args[i])
		}
	}
	if err := fs.Parse(kept); err != nil {
		return nil, dropped, fmt.Errorf("%s: %w", fs.Name(), err)
	}
	return fs.Args(), dropped, nil
}
