package untrusted

import (
	"cmp"
	"context"
	"errors"
	"os"
	"slices"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
)

// hashJob is a verdict whose sha256 the hashing pass computes.
type hashJob struct {
	verdict int // index in scan.res.Verdicts
	pid     int
	mod     inventory.Module
	id      fileinfo.ID
	// rank is the row's place among its process's rows that need hashing,
	// smallest file first: the round of the pass it is hashed in.
	rank int
}

// hashStats is what one scan's hashing pass did.
type hashStats struct {
	bytes   int64 // read to hash (cache hits cost nothing)
	files   int   // hashed
	skipped int   // rows left with sha256_skipped=budget
}

// errReplaced: the file opened is not the file that was judged (Linux: the
// process exited and its pid now maps another file through map_files;
// Windows: another file was put at the module's path).
var errReplaced = errors.New("mapped file changed since it was judged")

// hashPass fills in the sha256 of the rows that wait for one, within the
// scan's budget of bytes and time. The order is fair between processes:
// every process's smallest file, then every process's second smallest, and
// so on (round-robin), smaller files first within a round. So a process that
// maps thousands of files, or gigabytes of them, spends the budget on its
// own rows only after every other process had its turn; what it cannot
// spend is skipped with sha256_skipped=budget, and its rows stay (a hash
// allowlist entry cannot vouch for a file that was not hashed). A file
// bigger than what is left of the budget is skipped and smaller ones after
// it still fit. A file seen in several processes is read once.
func (sc *scan) hashPass(ctx context.Context) hashStats {
	var st hashStats
	if len(sc.jobs) == 0 {
		return st
	}
	bySize := func(a, b hashJob) int { return cmp.Compare(a.id.Size, b.id.Size) }
	// A process's jobs are adjacent: the walk judges one process at a time.
	for start := 0; start < len(sc.jobs); {
		end := start + 1
		for end < len(sc.jobs) && sc.jobs[end].pid == sc.jobs[start].pid {
			end++
		}
		group := sc.jobs[start:end]
		slices.SortStableFunc(group, bySize)
		for i := range group {
			group[i].rank = i
		}
		start = end
	}
	slices.SortStableFunc(sc.jobs, func(a, b hashJob) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), bySize(a, b))
	})
	ctx, cancel := context.WithTimeout(ctx, sc.cfg.HashTime)
	defer cancel()
	budget := sc.cfg.HashBudget
	for i := range sc.jobs {
		j := &sc.jobs[i]
		open := func() (*os.File, error) {
			if sc.cfg.onHash != nil {
				sc.cfg.onHash(j.pid, j.mod.Path)
			}
			f, err := sc.src.OpenModule(j.pid, &j.mod)
			if err == nil && !isFile(f, j.id.Key) {
				_ = f.Close() // read only: nothing to lose
				return nil, errReplaced
			}
			return f, err
		}
		sum, skipped, n := sc.hash.SumContext(ctx, j.id, open, budget)
		budget -= n
		st.bytes += n
		if n > 0 && sum != "" {
			st.files++
		}
		if skipped == fileinfo.SkipBudget {
			st.skipped++
		}
		v := &sc.res.Verdicts[j.verdict]
		if sum != "" && sc.policy.AllowsModule("", sum, "") {
			sc.dropped[j.verdict] = true
			continue
		}
		v.SHA256, v.HashSkip = sum, skipped
	}
	return st
}
