package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/table"
)

// common holds the flags every mode shares.
type common struct {
	verbose      bool
	tableTimeout time.Duration
	concurrency  int
}

func (c *common) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.verbose, "verbose", false, "log at debug level (osqueryd passes this when it is verbose itself)")
	fs.DurationVar(&c.tableTimeout, "table_timeout", table.DefaultTimeout, "deadline for one table scan")
	fs.IntVar(&c.concurrency, "table_concurrency", table.DefaultConcurrency, "table scans that may run at once")
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

func (c *common) tables(log *slog.Logger) []*table.Table {
	return tables.All(tables.Config{Log: log})
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
