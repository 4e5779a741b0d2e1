package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/dotnetloads"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/moduleevents"
	"github.com/modhunt/modhunt/tables/unbacked"
)

func init() {
	commands["events"] = command{
		summary: "[--pid N,...] [--policy FILE]   this host's module events, one JSON object per line (what detect --events reads)",
		run:     runEvents,
	}
}

// runEvents is `events`: this host's module loads now, as the events
// module_detections matches rules against, one JSON object per line in the
// flat shape `detect --events` reads. Recording them lets a rule be written
// and tested offline against a real host:
//
//	modhunt.ext events > host.jsonl
//	modhunt.ext detect --platform linux --events host.jsonl --rules ./my-rules
//
// It reads the same trust policy as the tables (--policy, or the flag
// file), so the UntrustedReasons match. Exit code 0 on success, 1 when the
// scan fails (a bad policy file, an unsupported platform), 2 on a usage
// error; a count goes to stderr.
func runEvents(args []string, e env) int {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	var c common
	c.register(fs)
	pidList := fs.String("pid", "", "only these processes: comma-separated pids")
	fs.Bool("json", true, "JSON lines; the only format, accepted for symmetry with detect --json")
	pos, code, done := hostFlags("events", fs, &c, args, e)
	if done {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "modhunt.ext events: unexpected argument %q\n", pos[0])
		return 2
	}
	var pids []int
	if *pidList != "" {
		pids = []int{}
		for s := range strings.SplitSeq(*pidList, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || pid <= 0 {
				fmt.Fprintf(e.stderr, "modhunt.ext events: --pid %q: %q is not a process id\n", *pidList, s)
				return 2
			}
			pids = append(pids, pid)
		}
	}
	log := c.logger(e.stderr)
	// Region events too: a recording replays against any rule, also
	// one reading memory regions (package unbacked).
	inv := inventory.New(inventory.Config{Log: log, ModulesOnly: true})
	regions, err := unbacked.NewScanner(unbacked.Config{Inventory: inv, Policy: c.policy, Log: log})
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext events: %v\n", err)
		return 1
	}
	b, err := moduleevents.New(moduleevents.Config{Log: log, Policy: c.policy, HashBudget: c.hashBudget(), HashTime: c.hashTime,
		Inventory: inv, More: []moduleevents.More{unbacked.NewEvents(regions)}})
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext events: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.guard(log).Timeout())
	defer cancel()

	w := bufio.NewWriter(e.stdout)
	n := 0
	write := func(_ *moduleevents.Process, ev *detections.Event) error {
		line, err := moduleevents.MarshalFields(ev)
		if err != nil {
			return err
		}
		n++
		_, err = w.Write(append(line, '\n'))
		return err
	}
	// Managed loads too (AssemblyName, InMemory, Runtime), as
	// module_detections matches them: the CLR hosts among the processes
	// scanned are read again for their assemblies, and no other process.
	clrHosts := []int{}
	err = scanGuarded(ctx, b, pids, func(p *moduleevents.Process, ev *detections.Event) error {
		if len(clrHosts) == 0 || clrHosts[len(clrHosts)-1] != p.PID {
			if dotnetloads.Runtime(p.Process) != "" {
				clrHosts = append(clrHosts, p.PID)
			}
		}
		return write(p, ev)
	})
	if err == nil && len(clrHosts) > 0 {
		managed := &dotnetloads.Scanner{Inventory: inv, Log: log}
		err = managed.Events(ctx, clrHosts, write)
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	fmt.Fprintf(e.stderr, "events: %d written\n", n)
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext events: %v\n", err)
		return 1
	}
	return 0
}

// scanGuarded is b.Scan with the guard's panic promise: a bug in the scan
// is an error naming it, not a stack trace in place of the events.
func scanGuarded(ctx context.Context, b *moduleevents.Builder, pids []int, fn func(*moduleevents.Process, *detections.Event) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error while scanning: %v", p)
		}
	}()
	return b.Scan(ctx, pids, fn)
}
