package untrusted

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/verdict"
)

// DefaultShareWindow is how long a finished scan is offered to the other
// consumer: long enough for a host to generate both tables of one query
// one after the other, short enough that a later query sees a fresh host.
const DefaultShareWindow = 2 * time.Second

var _ verdict.Judge = (*Judge)(nil)

// Judge judges this host's module loads against the trust policy. It is
// untrusted_module_loads' scanner, and the event builder reads the same
// judgements (typed, never parsed back from rows), so a host serving both
// tables keeps one package index and one file-facts cache. Safe for
// concurrent use.
type Judge struct {
	s      *scanner
	window time.Duration
	mu     sync.Mutex
	flight *shared // a scan in progress
	last   *shared // the last scan that finished, while it is offered
	// pkgChecked is when JudgeLoad last refreshed the package index (Unix ns).
	pkgChecked atomic.Int64
	// hostPreload caches the host's /etc/ld.so.preload for JudgeLoad.
	hostPreload hostPreloadCache
}

type shared struct {
	pids  []int // sorted; nil: every process
	need  verdict.Need
	done  chan struct{}
	taken [verdict.Consumers]bool
	res   *verdict.Judgement
	err   error
}

// NewJudge builds the judgement untrusted_module_loads serves: the
// built-in policy of this OS, extended by cfg.PolicyFile. A policy file
// that cannot be read or parsed is an error naming the file, line and
// field; it is never replaced by an empty policy.
func NewJudge(cfg Config) (*Judge, error) {
	s, err := newScanner(cfg)
	if err != nil {
		return nil, err
	}
	w := cfg.ShareWindow
	if w == 0 {
		w = DefaultShareWindow
	}
	return &Judge{s: s, window: w}, nil
}

// covers reports whether a scan of have answers a query for want.
func covers(have, want []int) bool {
	if have == nil {
		return true
	}
	if want == nil {
		return false
	}
	for _, p := range want {
		if _, ok := slices.BinarySearch(have, p); !ok {
			return false
		}
	}
	return true
}

func containsSorted(pids []int, pid int) bool {
	_, ok := slices.BinarySearch(pids, pid)
	return ok
}

func (sh *shared) answer(want []int) *verdict.Judgement {
	if sh.res == nil || slices.Equal(sh.pids, want) {
		return sh.res
	}
	return only(sh.res, want)
}

// Judge judges the processes pids (nil: every process; empty: none) for
// who, computing what need asks. A scan made for the other consumer
// moments ago, or still running, that covers pids and need is taken
// instead of a new one. The Judgement is shared:
// read it, never change it. A deadline stops the scan, and what was judged
// so far is returned with the error.
func (j *Judge) Judge(ctx context.Context, pids []int, who verdict.Consumer, need verdict.Need) (*verdict.Judgement, error) {
	if pids != nil {
		pids = slices.Compact(slices.Sorted(slices.Values(pids)))
		if len(pids) == 0 {
			return &verdict.Judgement{}, nil
		}
	}
	j.mu.Lock()
	if sh := j.last; sh != nil && !sh.taken[who] && covers(sh.pids, pids) && sh.need.Covers(need) {
		sh.taken[who] = true
		j.mu.Unlock()
		return sh.answer(pids), nil
	}
	if sh := j.flight; sh != nil && !sh.taken[who] && covers(sh.pids, pids) && sh.need.Covers(need) {
		sh.taken[who] = true
		j.mu.Unlock()
		select {
		case <-sh.done:
			if sh.err == nil {
				return sh.answer(pids), nil
			}
			// The other consumer's scan was cut short: scan anew.
			res, _, err := j.s.judge(ctx, pids, need)
			return res, err
		case <-ctx.Done():
			return &verdict.Judgement{}, ctx.Err()
		}
	}
	sh := &shared{pids: pids, need: need, done: make(chan struct{})}
	sh.taken[who] = true
	j.flight = sh
	j.mu.Unlock()

	sh.res, _, sh.err = j.s.judge(ctx, pids, need)

	j.mu.Lock()
	if j.flight == sh {
		j.flight = nil
	}
	if sh.err == nil && j.window > 0 {
		j.last = sh
		// The judgement holds every process read: let it go once no one
		// else may take it.
		time.AfterFunc(j.window, func() {
			j.mu.Lock()
			defer j.mu.Unlock()
			if j.last == sh {
				j.last = nil
			}
		})
	}
	j.mu.Unlock()
	close(sh.done)
	return sh.res, sh.err
}

// rows renders a judgement's verdicts as untrusted_module_loads rows.
func rows(j *verdict.Judgement) []table.Row {
	out := make([]table.Row, 0, len(j.Verdicts))
	for i := range j.Verdicts {
		out = append(out, row(j, &j.Verdicts[i]))
	}
	return out
}

func row(j *verdict.Judgement, v *verdict.Verdict) table.Row {
	p, m := j.Of(v)
	uid, ownerUID, mode := "", "", ""
	if p.UID >= 0 {
		uid = table.Int(p.UID)
	}
	if v.StatOK {
		ownerUID = table.Int(v.Owner)
		mode = fmt.Sprintf("%04o", v.Mode&0o7777)
	}
	return table.Row{
		table.Int(p.PID), p.Name, p.Path, p.Cmdline, uid,
		m.Path, m.Name, v.Reasons.String(), string(v.Severity()),
		v.SHA256, string(v.HashSkip), v.Package, ownerUID, mode, v.FSType,
	}
}

// only returns the part of j about pids (sorted, non-empty), re-indexed.
func only(j *verdict.Judgement, pids []int) *verdict.Judgement {
	out := &verdict.Judgement{}
	index := make(map[int]int, len(pids))
	for i := range j.Processes {
		if p := &j.Processes[i]; containsSorted(pids, p.PID) {
			index[i] = len(out.Processes)
			out.Processes = append(out.Processes, *p)
		}
	}
	for _, v := range j.Verdicts {
		if k, ok := index[v.Proc]; ok {
			v.Proc = k
			out.Verdicts = append(out.Verdicts, v)
		}
	}
	return out
}
