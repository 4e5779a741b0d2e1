package untrusted

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// Sizes of the hashing attack: 160 files of 127 MiB in one process.
const (
	attackFiles   = 160
	benchVictims  = 20
	attackedBytes = attackFiles * bigModule
)

// BenchmarkHashingBudget is the hashing denial of service against a full
// scan under the table guard with its default deadline. One process maps
// 160 sparse files of 127 MiB (20 GiB; sparse, so the setup costs neither
// disk nor memory, while hashing still reads every byte), and 20 loaders
// each load their own library from /tmp. Every iteration empties the hash
// cache, so each scan pays for its hashing as the first scan after start-up
// would. no_mapper is the same scan before the mapper starts, the baseline
// of the same run; with_mapper reports how many bytes the scan hashed, how
// many rows the budget left without a sum, how many loaders were judged
// (row with reasons and sha256: all of them, or the benchmark fails), and
// how long hashing all 20 GiB would have taken at the rate this run hashed.
func BenchmarkHashingBudget(b *testing.B) {
	sim.NeedRoot(b)
	sim.NeedPython(b)
	victims := map[string]string{} // pid -> library
	for i := range benchVictims {
		lib := sim.BuildLib(b, filepath.Join(sim.ExecDirIn(b, "/tmp", "modhunt-bench-"), fmt.Sprintf("libvictim%d.so", i)))
		p := sim.StartLoader(b, sim.LoaderOpts{Lib: lib})
		victims[strconv.Itoa(p.PID)] = lib
	}
	s, err := newScanner(Config{})
	if err != nil {
		b.Fatal(err)
	}
	var last hashStats
	tb := &table.Table{Spec: Spec, Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
		rows, st, err := s.scan(ctx, q)
		last = st
		return rows, err
	}}
	guard := table.NewGuard(table.DefaultTimeout, 1, nil)
	scan := func(b *testing.B) []table.Row {
		s.facts = fileinfo.New(0, 0)
		s.hash.Cache = s.facts
		rows, err := guard.Generate(context.Background(), tb, table.Query{})
		if err != nil {
			b.Fatalf("scan: %v", err)
		}
		judged := 0
		for _, r := range rows {
			if lib, ok := victims[r[col("pid")]]; ok && r[col("path")] == lib && r[col("reasons")] != "" && r[col("sha256")] != "" {
				judged++
			}
		}
		if judged != benchVictims {
			b.Fatalf("%d of %d loaders judged with a sha256", judged, benchVictims)
		}
		return rows
	}
	scan(b) // builds the package index once, as the first query of a long-lived extension does

	var baseNs float64
	b.Run("no_mapper", func(b *testing.B) {
		for b.Loop() {
			scan(b)
		}
		baseNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	dir := sim.TempDirIn(b, "/dev/shm", "modhunt-bench-hashdos-")
	sim.SparseFiles(b, dir, "big", attackFiles, bigModule)
	sim.StartMapper(b, dir)
	b.Run("with_mapper", func(b *testing.B) {
		skipped := 0
		for b.Loop() {
			rows := scan(b)
			skipped = 0
			for _, r := range rows {
				if filepath.Dir(r[col("path")]) == dir && r[col("sha256_skipped")] == skipBudget {
					skipped++
				}
			}
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(float64(last.bytes)/(1<<20), "hashed_MiB")
		b.ReportMetric(float64(skipped), "budget_rows")
		b.ReportMetric(benchVictims, "loaders_judged")
		if baseNs > 0 {
			b.ReportMetric(ns/baseNs, "x_no_mapper")
		}
		if extra := ns - baseNs; extra > 0 && last.bytes > 0 {
			b.ReportMetric(extra/float64(last.bytes)*attackedBytes/float64(time.Second), "unbudgeted_s")
		}
		b.ReportMetric(ns/float64(table.DefaultTimeout), "of_deadline")
	})
}
