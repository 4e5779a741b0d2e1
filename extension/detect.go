package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/internal/platform"
)

func init() {
	commands["detect"] = command{
		summary: "--events FILE|- [--rules DIR,...] [--builtin] [--json]   Sigma rules over recorded events",
		run:     runDetect,
	}
}

// runDetect is `detect`: offline evaluation of Sigma image_load rules against
// recorded events (see detections.ReadEvents for the shapes read).
//
// Without --rules the built-in rules run; with --rules only the rules in
// those folders run (so a rule under development is tested alone), and
// --builtin adds the built-in ones. Matches go to stdout, one line each (one
// JSON object each with --json); the summary goes to stderr. The exit code
// is 0 whether or not anything matched, 1 on bad input (unreadable events or
// rule folder, a malformed event: reported as file:line: reason), 2 on a
// usage error. A rule file that cannot be evaluated is skipped and listed in
// the summary; it does not fail the run unless no rule loads at all.
func runDetect(args []string, e env) int {
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var (
		rules    = fs.String("rules", "", "comma-separated folders of Sigma rules (.yml/.yaml, searched recursively); replaces the built-in rules")
		builtin  = fs.Bool("builtin", false, "also run the built-in rules when --rules is given")
		events   = fs.String("events", "", "file of JSON events, one object per line or an evtx-to-JSON export; - reads stdin")
		asJSON   = fs.Bool("json", false, "print one JSON object per match")
		platName = fs.String("platform", detections.PlatformWindows, "platform of events that carry no Platform field (windows, linux, darwin)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "modhunt.ext detect: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *events == "" {
		fmt.Fprintln(e.stderr, "modhunt.ext detect: --events FILE is required (- for stdin)")
		return 2
	}
	defaultPlatform, ok := platform.Parse(*platName)
	if !ok {
		fmt.Fprintf(e.stderr, "modhunt.ext detect: --platform %q is not windows, linux or darwin\n", *platName)
		return 2
	}

	dirs := splitList(*rules)
	engine, rep, err := detections.Load(len(dirs) == 0 || *builtin, dirs)
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext detect: %v\n", err)
		return 1
	}
	fmt.Fprintf(e.stderr, "rules: %d loaded, %d skipped\n", rep.Loaded, len(rep.Skipped))
	for _, s := range rep.Skipped {
		fmt.Fprintf(e.stderr, "skipped: %s\n", s)
	}
	for _, s := range rep.FolderErrors {
		fmt.Fprintf(e.stderr, "%s\n", s)
	}
	if len(rep.FolderErrors) > 0 {
		return 1
	}
	if rep.Loaded == 0 {
		fmt.Fprintln(e.stderr, "modhunt.ext detect: no rule loaded")
		return 1
	}

	in := e.stdin
	name := "stdin"
	if *events != "-" {
		f, err := os.Open(*events)
		if err != nil {
			fmt.Fprintf(e.stderr, "modhunt.ext detect: %v\n", err)
			return 1
		}
		defer f.Close()
		in, name = f, *events
	}

	out := json.NewEncoder(e.stdout)
	out.SetEscapeHTML(false)
	matches := 0
	var buf []detections.Match
	st, err := detections.ReadEvents(in, name, defaultPlatform, func(line int, ev *detections.Event) error {
		buf = engine.MatchAppend(buf[:0], ev)
		for _, m := range buf {
			matches++
			if err := printMatch(e.stdout, out, *asJSON, fmt.Sprintf("%s:%d", name, line), m.Rule, ev); err != nil {
				return err
			}
		}
		return nil
	})
	ignored := ""
	if st.Ignored > 0 {
		ignored = fmt.Sprintf(", %d other records ignored (not Sysmon Event ID 7)", st.Ignored)
	}
	fmt.Fprintf(e.stderr, "events: %d read%s\nmatches: %d\n", st.Events, ignored, matches)
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext detect: %v\n", err)
		return 1
	}
	return 0
}

// detectMatch is the JSON shape of one match.
type detectMatch struct {
	RuleID   string         `json:"rule_id"`
	Title    string         `json:"title"`
	Level    string         `json:"level"`
	SiemRule string         `json:"siem_rule"`
	Tags     []string       `json:"tags"`
	Source   string         `json:"source"`
	Event    map[string]any `json:"event"`
}

func printMatch(w io.Writer, enc *json.Encoder, asJSON bool, source string, r *detections.Rule, ev *detections.Event) error {
	m := detectMatch{RuleID: r.ID, Title: r.Title, Level: r.Level, SiemRule: r.SiemRule(),
		Tags: r.Tags, Source: source, Event: ev.Fields()}
	if m.Tags == nil {
		m.Tags = []string{}
	}
	if asJSON {
		return enc.Encode(m)
	}
	evJSON, err := json.Marshal(m.Event)
	if err != nil {
		return err
	}
	siem := ""
	if m.SiemRule != "" {
		siem = " siem_rule=" + m.SiemRule
	}
	_, err = fmt.Fprintf(w, "%s: %s %s %q%s event=%s\n", source, m.Level, m.RuleID, m.Title, siem, evJSON)
	return err
}
