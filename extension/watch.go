package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/internal/loadsource"
	"github.com/modhunt/modhunt/tables/loadstream"
	"github.com/modhunt/modhunt/tables/moduleevents"
	"github.com/modhunt/modhunt/tables/untrusted"
)

func init() {
	commands["watch"] = command{
		summary: "[--json] [--rules DIR,...] [--matches] [--for D]   module loads as they happen (eBPF) and Sigma matches as they fire",
		run:     runWatch,
	}
}

// runWatch is `watch`: the load event stream module_load_events buffers,
// printed as it happens, with each Sigma match of the rules
// module_detections runs (built in, plus --rules) under the same field
// names. With --json an event is one line in the flat shape `events`
// writes and `detect --events` reads (plus EventTime, EventID, EventKind),
// and a match one line in detect --json's shape (rule_id, title, level,
// ..., event). Exit code 0 when stopped (Ctrl-C, SIGTERM, --for), 1 when
// the source cannot run here (the reason on stderr) or a setting is broken,
// 2 on a usage error.
func runWatch(args []string, e env) int {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "one JSON object per line")
	onlyMatches := fs.Bool("matches", false, "print only Sigma matches, not every load")
	loadsOnly := fs.Bool("loads", false, "leave out exec and memfd_create events (print only mmap/mprotect loads)")
	dur := fs.Duration("for", 0, "stop after this long (0: until interrupted)")
	pos, code, done := hostFlags("watch", fs, &c, args, e)
	if done {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "modhunt.ext watch: unexpected argument %q\n", pos[0])
		return 2
	}
	log := c.logger(e.stderr)
	judge, err := untrusted.NewJudge(untrusted.Config{Log: log, PolicyFile: c.policy})
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext watch: %v\n", err)
		return 1
	}
	engine, rep, err := detections.Load(true, splitList(c.rules))
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext watch: %v\n", err)
		return 1
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(e.stderr, "skipped: %s\n", s)
	}
	for _, s := range rep.FolderErrors {
		fmt.Fprintf(e.stderr, "%s\n", s)
	}
	if len(rep.FolderErrors) > 0 {
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	s := loadstream.New(loadstream.Config{
		Log: log, Judge: judge, Rules: engine, Disabled: c.disableEvents, SyscallHooks: c.syscallHooks, MaxEvents: 1, Expiry: -1,
	})
	// Subscribe before starting, so not one event is missed.
	loads, cancelSub := s.Subscribe()
	defer cancelSub()
	if err := s.Start(ctx); err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext watch: %v\n", err)
		return 1
	}
	defer func() { _ = s.Close() }()
	fmt.Fprintf(e.stderr, "watching module loads (%d rules); Ctrl-C stops\n", rep.Loaded)

	out := json.NewEncoder(e.stdout)
	out.SetEscapeHTML(false)
	events, matches := 0, 0
	for {
		select {
		case <-ctx.Done():
			st := s.Status()
			fmt.Fprintf(e.stderr, "events: %d printed\nmatches: %d\ndropped: %d (kernel ring %d, reader %d, watch %d)\n",
				events, matches, st.Source.Drops()+st.SubscriberDrops, st.Source.RingDrops, st.Source.QueueDrops, st.SubscriberDrops)
			return 0
		case l, ok := <-loads:
			if !ok {
				st := s.Status()
				if st.Source.State == loadsource.StateUnavailable {
					fmt.Fprintf(e.stderr, "modhunt.ext watch: load events unavailable: %s\n", st.Source.Reason)
					return 1
				}
				return 0
			}
			if *loadsOnly && !l.Judged {
				continue
			}
			ev := l.DetectionEvent()
			if !*onlyMatches {
				if err := printLoad(e, out, *asJSON, l, &ev); err != nil {
					fmt.Fprintf(e.stderr, "modhunt.ext watch: %v\n", err)
					return 1
				}
				events++
			}
			for _, r := range l.Matches {
				matches++
				if err := printMatch(e.stdout, out, *asJSON, fmt.Sprintf("eid:%d", l.EID), r, &ev); err != nil {
					fmt.Fprintf(e.stderr, "modhunt.ext watch: %v\n", err)
					return 1
				}
			}
		}
	}
}

// printLoad writes one load: with asJSON the flat event JSON `events`
// writes, else one text line.
func printLoad(e env, enc *json.Encoder, asJSON bool, l *loadstream.Load, ev *detections.Event) error {
	if asJSON {
		line, err := moduleevents.MarshalFields(ev)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", line)
		return err
	}
	reasons := ""
	if len(l.Reasons) > 0 {
		reasons = " reasons=" + strings.Join(l.Reasons, ",") + " severity=" + l.Severity
	}
	line := fmt.Sprintf("%s eid=%d %s pid=%d ppid=%d comm=%q image=%q path=%q%s",
		l.Time.Format(time.RFC3339), l.EID, l.Kind, l.PID, l.PPID, l.Comm, ev.Image, ev.ImageLoaded, reasons)
	_, err := fmt.Fprintln(e.stdout, line)
	return err
}
