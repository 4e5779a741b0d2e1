package untrusted

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/verdict"
	"github.com/modhunt/modhunt/test/sim"
)

const mib = 1 << 20

// fileSource opens a module's path directly; the hashing pass needs nothing
// else from its source.
type fileSource struct{ Source }

func (fileSource) OpenModule(_ int, m *inventory.Module) (*os.File, error) { return os.Open(m.Path) }

// passScan is a scan whose jobs are the given files, pid by pid in the
// order given (as the walk would judge them).
func passScan(t *testing.T, budget int64, procs map[int][]string, order []int) (*scan, map[string]int) {
	t.Helper()
	s, err := newScanner(Config{})
	require.NoError(t, err)
	s.src, s.cfg.HashBudget = fileSource{}, budget
	sc := &scan{scanner: s, res: &verdict.Judgement{}}
	rowOf := map[string]int{}
	for _, pid := range order {
		for _, p := range procs[pid] {
			fi, err := os.Stat(p)
			require.NoError(t, err)
			st := fi.Sys().(*syscall.Stat_t)
			rowOf[p] = len(sc.res.Verdicts)
			sc.res.Processes = append(sc.res.Processes, inventory.Process{PID: pid, Modules: []inventory.Module{{Path: p}}})
			sc.jobs = append(sc.jobs, hashJob{verdict: len(sc.res.Verdicts), pid: pid, mod: inventory.Module{Path: p},
				id: fileinfo.ID{Key: fileinfo.Key{Dev: st.Dev, Ino: st.Ino}, Size: fi.Size(), MTime: fi.ModTime().UnixNano()}})
			sc.res.Verdicts = append(sc.res.Verdicts, verdict.Verdict{Proc: len(sc.res.Processes) - 1, HashSkip: fileinfo.SkipBudget})
			sc.dropped = append(sc.dropped, false)
		}
	}
	return sc, rowOf
}

// Columns the hashing pass fills in.
var (
	colSHA256  = columnIndex("sha256")
	colSkipped = columnIndex("sha256_skipped")
)

func columnIndex(name string) int {
	for i, c := range columns {
		if c.Name == name {
			return i
		}
	}
	panic("untrusted_module_loads has no column " + name)
}

// passRows renders every verdict of a passScan as its row, nil for one the
// pass dropped, in job order.
func passRows(sc *scan) []table.Row {
	rows := make([]table.Row, len(sc.res.Verdicts))
	for i := range sc.res.Verdicts {
		if !sc.dropped[i] {
			rows[i] = row(sc.res, &sc.res.Verdicts[i])
		}
	}
	return rows
}

// One process's many files cannot spend the budget before another
// process's file gets its turn, even when that process comes first in the
// walk and its files are each smaller than the other's.
func TestHashPassTakesTurnsBetweenProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	greedy := sim.SparseFiles(t, dir, "greedy", 5, 1*mib)
	victim := sim.SparseFiles(t, dir, "victim", 1, 2*mib)
	sc, rowOf := passScan(t, 3*mib, map[int][]string{100: greedy, 200: victim}, []int{100, 200})
	st := sc.hashPass(context.Background())

	v := passRows(sc)[rowOf[victim[0]]]
	assert.Equal(t, zeroSum(t, 2*mib), v[colSHA256], "the other process's file is hashed")
	assert.Empty(t, v[colSkipped])
	hashed := 0
	for _, p := range greedy {
		r := passRows(sc)[rowOf[p]]
		if r[colSHA256] != "" {
			hashed++
			assert.Equal(t, zeroSum(t, 1*mib), r[colSHA256])
			continue
		}
		assert.Equal(t, skipBudget, r[colSkipped], p)
	}
	assert.Equal(t, 1, hashed, "the greedy process gets what is left: one turn")
	assert.Equal(t, hashStats{bytes: 3 * mib, files: 2, skipped: 4}, st)
}

// A file mapped by several processes is read once; a file too big for
// what is left of the budget is skipped and smaller ones still fit.
func TestHashPassReadsASharedFileOnceAndFillsTheBudget(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	shared := sim.SparseFiles(t, dir, "shared", 1, 2*mib)
	big := sim.SparseFiles(t, dir, "big", 1, 4*mib)
	small := sim.SparseFiles(t, dir, "small", 1, 1*mib)
	procs := map[int][]string{1: {shared[0], big[0]}, 2: shared, 3: shared, 4: {small[0], big[0]}}
	sc, _ := passScan(t, 4*mib, procs, []int{1, 2, 3, 4})
	st := sc.hashPass(context.Background())
	var sums, skips []string
	for _, r := range passRows(sc) {
		sums, skips = append(sums, r[colSHA256]), append(skips, r[colSkipped])
	}
	two, one := zeroSum(t, 2*mib), zeroSum(t, 1*mib)
	assert.Equal(t, []string{two, "", two, two, one, ""}, sums)
	assert.Equal(t, []string{"", skipBudget, "", "", "", skipBudget}, skips)
	assert.Equal(t, hashStats{bytes: 3 * mib, files: 2, skipped: 2}, st)
}

// When the time budget is spent, the pass stops reading and every row left
// says so.
func TestHashPassStopsAtItsTimeBudget(t *testing.T) {
	t.Parallel()
	files := sim.SparseFiles(t, t.TempDir(), "f", 3, 1*mib)
	sc, _ := passScan(t, 1<<40, map[int][]string{1: files}, []int{1})
	sc.cfg.HashTime = time.Nanosecond
	st := sc.hashPass(context.Background())
	assert.Equal(t, hashStats{skipped: 3}, st)
	for _, r := range passRows(sc) {
		assert.Equal(t, [2]string{"", skipBudget}, [2]string{r[colSHA256], r[colSkipped]})
	}
}

// zeroSum is the sha256 of n zero bytes (a sparse file's contents).
func zeroSum(t *testing.T, n int64) string {
	t.Helper()
	d := sha256.New()
	_, err := io.CopyN(d, zeroReader{}, n)
	require.NoError(t, err)
	return hex.EncodeToString(d.Sum(nil))
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
