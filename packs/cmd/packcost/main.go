// Command packcost measures what each hunt costs on this machine (`make
// packs-cost`): every hunt whose tables this build serves runs through the
// embedded engine a few times, and its time, rows, result size and
// allocations are printed beside its interval, so intervals can be chosen
// against osquery's watchdog (10% CPU over 12 s, 200 MB by default) and
// Fleet's 1000-row report cap.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/modhunt/modhunt/extension/sqlhost"
	"github.com/modhunt/modhunt/packs"
	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/table"
)

func main() {
	runs := flag.Int("runs", 3, "times to run each hunt; the median is reported")
	platform := flag.String("platform", runtime.GOOS, "measure the hunts meant for this osquery platform")
	flag.Parse()
	os.Exit(run(os.Stdout, os.Stderr, *platform, max(*runs, 1)))
}

type cost struct {
	hunt          *packs.Hunt
	median, worst time.Duration
	rows          int
	resultBytes   int
	allocBytes    uint64
	err           error
	skipped       string
}

func run(stdout, stderr io.Writer, platform string, runs int) int {
	all, err := packs.Load()
	if err != nil {
		fmt.Fprintln(stderr, "packcost:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tbls, err := tables.Build(deps.Deps{Log: log})
	if err != nil {
		fmt.Fprintln(stderr, "packcost:", err)
		return 2
	}
	db, err := sqlhost.Open(tbls, table.NewGuard(0, 0, log), log)
	if err != nil {
		fmt.Fprintln(stderr, "packcost:", err)
		return 2
	}
	defer func() { _ = db.Close() }()
	served := func(name string) bool { return db.Table(name) != nil }

	ctx := context.Background()
	var costs []cost
	for _, h := range packs.ForPlatform(all, platform) {
		c := cost{hunt: h, skipped: packs.SkipReason(h, served, true)}
		if c.skipped == "" {
			fmt.Fprintf(stderr, "packcost: %s ...\n", h.Name)
			c = measure(ctx, db, h, runs)
		}
		costs = append(costs, c)
	}
	return report(stdout, costs, runs)
}

func measure(ctx context.Context, db *sqlhost.DB, h *packs.Hunt, runs int) cost {
	c := cost{hunt: h}
	times := make([]time.Duration, 0, runs)
	for range runs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, rows, err := db.Query(ctx, h.SQL)
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		if err != nil {
			c.err = err
			return c
		}
		times = append(times, elapsed)
		c.rows = len(rows)
		c.resultBytes = resultSize(rows)
		c.allocBytes = max(c.allocBytes, after.TotalAlloc-before.TotalAlloc)
	}
	slices.Sort(times)
	c.median, c.worst = times[len(times)/2], times[len(times)-1]
	return c
}

// resultSize approximates what the rows weigh on their way to osqueryd's
// worker, which materialises them and is what the watchdog's memory limit
// watches.
func resultSize(rows [][]any) int {
	n := 0
	for _, r := range rows {
		for _, v := range r {
			switch x := v.(type) {
			case string:
				n += len(x)
			case []byte:
				n += len(x)
			default:
				n += 8
			}
		}
	}
	return n
}

func report(w io.Writer, costs []cost, runs int) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "hunt\tinterval s\trows\tresult KiB\tmedian\tworst\talloc MiB\tduty %%\t\n")
	code := 0
	var skipped []cost
	for _, c := range costs {
		switch {
		case c.skipped != "":
			skipped = append(skipped, c)
			continue
		case c.err != nil:
			fmt.Fprintf(tw, "%s\t%d\tERROR: %v\t\t\t\t\t\t\n", c.hunt.Name, c.hunt.Interval, c.err)
			code = 1
			continue
		}
		// duty: the share of the interval the query keeps a core busy, at
		// most; osquery's watchdog allows 10% of all cores over 12 s.
		duty := 100 * c.median.Seconds() / float64(c.hunt.Interval)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%s\t%.1f\t%.4f\t\n", c.hunt.Name, c.hunt.Interval, c.rows,
			float64(c.resultBytes)/1024, c.median.Round(time.Millisecond), c.worst.Round(time.Millisecond),
			float64(c.allocBytes)/(1<<20), duty)
	}
	if err := tw.Flush(); err != nil {
		return 2
	}
	fmt.Fprintf(w, "\n%d runs each on %s/%s, %d CPUs, %s.\n", runs, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), time.Now().UTC().Format(time.RFC3339))
	for _, c := range skipped {
		fmt.Fprintf(w, "not measured: %s: %s\n", c.hunt.Name, c.skipped)
	}
	return code
}
