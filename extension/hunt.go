package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modhunt/modhunt/internal/platform"
	"github.com/modhunt/modhunt/packs"
)

// huntSource gives the hunt command its hunts; tests pass their own.
type huntSource func() ([]*packs.Hunt, error)

func init() {
	commands["hunt"] = command{
		summary: "[--json] [--platform P]   run this platform's pack hunts here; exit 0 clean, 1 found, 2 error",
		run:     func(args []string, e env) int { return runHunt(args, e, (*common).tables, packs.Load) },
	}
}

// Exit statuses of `hunt`, so scripts can tell "nothing found" from
// "something found" from "could not look".
const (
	huntClean = 0
	huntFound = 1
	huntError = 2
)

// runHunt is `hunt [--json] [--platform P]`: the pack hunts meant for P
// (this OS by default) whose tables this build serves run one after the
// other through the embedded engine. Each is reported as its findings,
// "clean", skipped (with the reason) or failed (with the error).
func runHunt(args []string, e env, tables tableSource, hunts huntSource) int {
	fs := flag.NewFlagSet("hunt", flag.ContinueOnError)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per hunt (name, description, technique, rows, error), in an array")
	plat := fs.String("platform", runtime.GOOS, "run the hunts meant for this platform: linux, windows or darwin (macos)")
	pos, code, done := hostFlags("hunt", fs, &c, args, e)
	if done {
		if code != 0 {
			return huntError
		}
		return code
	}
	if len(pos) != 0 {
		fmt.Fprintln(e.stderr, "usage: modhunt.ext hunt [--json] [--platform linux|windows|darwin]")
		return huntError
	}
	p, ok := platform.Parse(strings.ToLower(*plat))
	if !ok {
		fmt.Fprintf(e.stderr, "modhunt.ext hunt: --platform %q: want linux, windows or darwin\n", *plat)
		return huntError
	}

	all, err := hunts()
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext hunt: loading the hunts: %v\n", err)
		return huntError
	}
	db, err := openHost(&c, e, tables)
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext hunt: %v\n", err)
		return huntError
	}
	defer func() { _ = db.Close() }()
	served := func(name string) bool { return db.Table(name) != nil }

	mine := packs.ForPlatform(all, p)
	progress := func(i, n int, h *packs.Hunt) {
		fmt.Fprintf(e.stderr, "modhunt.ext hunt: [%d/%d] %s\n", i+1, n, h.Name)
	}
	results := packs.Run(context.Background(), db, mine, served, false, progress)

	out := bufio.NewWriter(e.stdout)
	if *asJSON {
		writeHuntJSON(out, results)
	} else {
		writeHuntText(out, p, results)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext hunt: write: %v\n", err)
		return huntError
	}

	ran := 0
	for _, r := range results {
		if r.Skipped == "" {
			ran++
		}
	}
	if ran == 0 {
		// Nothing looked, so "clean" would be a lie.
		fmt.Fprintf(e.stderr, "modhunt.ext hunt: none of the %d %s hunts can run on this host (see the reasons above)\n", len(results), p)
		return huntError
	}
	status := huntClean
	for _, r := range results {
		switch {
		case r.Err != nil:
			fmt.Fprintf(e.stderr, "modhunt.ext hunt: hunt %s failed: %v\n", r.Hunt.Name, r.Err)
			status = huntError
		case r.Found() && status == huntClean:
			status = huntFound
		}
	}
	return status
}

// writeHuntText prints a block per hunt: a status line with the hunt's
// name and techniques, its description, and one line per finding.
func writeHuntText(w *bufio.Writer, platform string, results []packs.Result) {
	var found, clean, failed, skipped, rows int
	for _, r := range results {
		h := r.Hunt
		tech := strings.Join(h.Techniques, ", ")
		switch {
		case r.Skipped != "":
			skipped++
			fmt.Fprintf(w, "[skip]  %s (%s): %s\n", h.Name, tech, r.Skipped)
			continue
		case r.Err != nil:
			failed++
			fmt.Fprintf(w, "[error] %s (%s): %s\n        %s\n", h.Name, tech, escapeText(r.Err.Error()), h.Description)
			continue
		case len(r.Rows) == 0:
			clean++
			fmt.Fprintf(w, "[clean] %s (%s): %s\n", h.Name, tech, h.Description)
			continue
		}
		found++
		rows += len(r.Rows)
		fmt.Fprintf(w, "[FOUND] %s (%s): %d %s\n        %s\n", h.Name, tech, len(r.Rows), plural(len(r.Rows), "row", "rows"), h.Description)
		var b strings.Builder
		for _, row := range r.Rows {
			b.Reset()
			b.WriteString("        -")
			for i, col := range r.Columns {
				b.WriteByte(' ')
				b.WriteString(escapeText(col))
				b.WriteByte('=')
				b.WriteString(quoteIfNeeded(clip(displayValue(row[i]))))
			}
			fmt.Fprintln(w, b.String())
		}
	}
	fmt.Fprintf(w, "%d %s hunts: %d with findings (%d %s), %d clean, %d failed, %d skipped\n",
		len(results), platform, found, rows, plural(rows, "row", "rows"), clean, failed, skipped)
}

// maxTextValue bounds one value in the text report: a command line may be
// 16 KiB, which buries the rest of the row. --json prints values whole.
const maxTextValue = 200

func clip(s string) string {
	if len(s) <= maxTextValue {
		return s
	}
	cut := maxTextValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s...[%d more bytes]", s[:cut], len(s)-cut)
}

// quoteIfNeeded keeps key=value lines unambiguous: a value that is empty
// or holds a blank, a quote or an '=' is quoted.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=") {
		return strconv.Quote(s)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// writeHuntJSON prints a JSON array with one object per hunt: name,
// description, technique (an array), platform, rows (an array of objects
// keyed by column, empty when clean or not run), error (null or the
// message) and, for a hunt that did not run, skipped (the reason). Values
// are encoded as `query --json` encodes them.
func writeHuntJSON(w io.Writer, results []packs.Result) {
	var b strings.Builder
	b.WriteString("[")
	for i, r := range results {
		if i > 0 {
			b.WriteByte(',')
		}
		h := r.Hunt
		b.WriteString("\n  {\"name\":")
		jsonString(&b, h.Name)
		b.WriteString(",\"description\":")
		jsonString(&b, h.Description)
		b.WriteString(",\"technique\":[")
		for j, t := range h.Techniques {
			if j > 0 {
				b.WriteByte(',')
			}
			jsonString(&b, t)
		}
		b.WriteString("],\"platform\":")
		jsonString(&b, h.Platform)
		b.WriteString(",\"rows\":[")
		keys := jsonKeys(r.Columns)
		for j, row := range r.Rows {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString("\n    ")
			jsonRow(&b, keys, row)
		}
		if len(r.Rows) > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString("],\"error\":")
		if r.Err != nil {
			jsonString(&b, r.Err.Error())
		} else {
			b.WriteString("null")
		}
		if r.Skipped != "" {
			b.WriteString(",\"skipped\":")
			jsonString(&b, r.Skipped)
		}
		b.WriteByte('}')
		// Flush per hunt so a large result does not sit in one buffer.
		fmt.Fprint(w, b.String())
		b.Reset()
	}
	if len(results) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	fmt.Fprint(w, b.String())
}
