package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modhunt/modhunt/extension/sqlhost"
	"github.com/modhunt/modhunt/internal/textesc"
	"github.com/modhunt/modhunt/tables/table"
)

// maxSQL bounds what query reads from stdin and what the shell buffers for
// one statement: hunting SQL is a few kilobytes.
const maxSQL = 1 << 20

// Output modes, named as osqueryi names them.
const (
	modePretty = "pretty"
	modeJSON   = "json"
	modeLine   = "line"
)

// tableSource gives a command its tables; tests pass fakes.
type tableSource func(c *common, log *slog.Logger) ([]*table.Table, error)

func init() {
	commands["query"] = command{
		summary: `[--json] "SQL"|-   run SQL over the tables (- reads it from stdin)`,
		run:     func(args []string, e env) int { return runQuery(args, e, (*common).tables) },
	}
	commands["shell"] = command{
		summary: "[--json]            interactive SQL prompt, like osqueryi",
		run:     func(args []string, e env) int { return runShell(args, e, (*common).tables) },
	}
}

// hostFlags parses a CLI command's flags, which may come before or after
// its positional arguments. It returns the positional arguments, or an exit
// code when the command is done (help, usage error).
func hostFlags(name string, fs *flag.FlagSet, c *common, args []string, e env) ([]string, int, bool) {
	rest, err := c.parse(fs, args, false)
	var pos []string
	for err == nil && len(rest) > 0 {
		pos = append(pos, rest[0])
		err = fs.Parse(rest[1:])
		rest = fs.Args()
	}
	if errors.Is(err, flag.ErrHelp) {
		if cmd, ok := commands[name]; ok {
			fmt.Fprintf(e.stdout, "usage: modhunt.ext %s %s\n", name, cmd.summary)
		}
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		return nil, 0, true
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext %s: %v\n", name, err)
		return nil, 2, true
	}
	return pos, 0, false
}

func openHost(c *common, e env, tables tableSource) (*sqlhost.DB, error) {
	log := c.logger(e.stderr)
	tbls, err := tables(c, log)
	if err != nil {
		return nil, err
	}
	return sqlhost.Open(tbls, c.guard(log), log)
}

// runQuery is `query [--json] "SQL"`: every statement in SQL runs in turn
// and its rows are printed as an osqueryi-style table, or with --json as a
// JSON array of objects (one array per statement).
func runQuery(args []string, e env, tables tableSource) int {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print rows as a JSON array of objects")
	pos, code, done := hostFlags("query", fs, &c, args, e)
	if done {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(e.stderr, `usage: modhunt.ext query [--json] "SQL"   (or - to read the SQL from stdin)`)
		return 2
	}
	sql := pos[0]
	if sql == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, maxSQL+1))
		if err != nil {
			fmt.Fprintf(e.stderr, "modhunt.ext query: read stdin: %v\n", err)
			return 1
		}
		if len(b) > maxSQL {
			fmt.Fprintf(e.stderr, "modhunt.ext query: SQL on stdin is longer than %d bytes\n", maxSQL)
			return 1
		}
		sql = string(b)
	}
	stmts := sqlhost.SplitStatements(sql)
	if len(stmts) == 0 {
		fmt.Fprintln(e.stderr, "modhunt.ext query: no SQL statement given")
		return 2
	}

	db, err := openHost(&c, e, tables)
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext query: %v\n", err)
		return 1
	}
	defer func() { _ = db.Close() }() // in memory: nothing to lose on close
	mode := modePretty
	if *asJSON {
		mode = modeJSON
	}
	for _, stmt := range stmts {
		cols, rows, err := db.Query(context.Background(), stmt)
		if err != nil {
			fmt.Fprintf(e.stderr, "modhunt.ext query: %v\n", err)
			return 1
		}
		if err := writeRows(e.stdout, mode, cols, rows); err != nil {
			fmt.Fprintf(e.stderr, "modhunt.ext query: write: %v\n", err)
			return 1
		}
	}
	return 0
}

// writeRows prints one statement's result in mode.
func writeRows(w io.Writer, mode string, cols []string, rows [][]any) error {
	var b strings.Builder
	switch mode {
	case modeJSON:
		writeJSON(&b, cols, rows)
	case modeLine:
		writeLines(&b, cols, rows)
	default:
		writePretty(&b, cols, rows)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writePretty draws osqueryi's table: +---+ borders, a header row, values
// left-aligned, NULL empty. Like osqueryi it prints nothing for no rows.
func writePretty(w *strings.Builder, cols []string, rows [][]any) {
	if len(rows) == 0 {
		return
	}
	header := make([]string, len(cols))
	widths := make([]int, len(cols))
	for i, c := range cols {
		header[i] = escapeText(c)
		widths[i] = utf8.RuneCountInString(header[i])
	}
	cells := make([][]string, len(rows))
	for r, row := range rows {
		cells[r] = make([]string, len(cols))
		for i := range cols {
			cells[r][i] = displayValue(row[i])
			widths[i] = max(widths[i], utf8.RuneCountInString(cells[r][i]))
		}
	}
	rule := func() {
		w.WriteByte('+')
		for _, n := range widths {
			w.WriteString(strings.Repeat("-", n+2))
			w.WriteByte('+')
		}
		w.WriteByte('\n')
	}
	line := func(vals []string) {
		w.WriteByte('|')
		for i, v := range vals {
			w.WriteByte(' ')
			w.WriteString(v)
			w.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v)+1))
			w.WriteByte('|')
		}
		w.WriteByte('\n')
	}
	rule()
	line(header)
	rule()
	for _, r := range cells {
		line(r)
	}
	rule()
}

// writeLines is osqueryi's line mode: one "name = value" line per column,
// names right-aligned, a blank line between rows.
func writeLines(w *strings.Builder, cols []string, rows [][]any) {
	width := 0
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = escapeText(c)
		width = max(width, utf8.RuneCountInString(names[i]))
	}
	for r, row := range rows {
		if r > 0 {
			w.WriteByte('\n')
		}
		for i, n := range names {
			w.WriteString(strings.Repeat(" ", width-utf8.RuneCountInString(n)))
			w.WriteString(n)
			w.WriteString(" = ")
			w.WriteString(displayValue(row[i]))
			w.WriteByte('\n')
		}
	}
}

// writeJSON prints a JSON array of objects keyed by column name, in column
// order, one object per line. Integers and reals are JSON numbers, NULL is
// null, text is a string.
//
// Text that is not valid UTF-8 (a file name is any bytes on Linux, and a
// strange one is worth seeing) cannot go into JSON as is, and \uFFFD would
// erase exactly the bytes a hunter wants. Text is written through
// package textesc first: each byte of an invalid sequence becomes the four
// characters \xNN, and a backslash that would read as the start of such an
// escape (before '\\', 'x' or an escaped byte) is doubled, so `jq -r .path`
// prints "/tmp/\xFF.so" for the byte 0xff and "/tmp/\\xFF.so" for a name
// that really holds a backslash and "xFF", and textesc.Unescape gives the
// bytes back. Control characters use ordinary JSON escapes.
func writeJSON(w *strings.Builder, cols []string, rows [][]any) {
	if len(rows) == 0 {
		w.WriteString("[]\n")
		return
	}
	keys := jsonKeys(cols)
	w.WriteString("[\n")
	for r, row := range rows {
		w.WriteString("  ")
		jsonRow(w, keys, row)
		if r < len(rows)-1 {
			w.WriteByte(',')
		}
		w.WriteByte('\n')
	}
	w.WriteString("]\n")
}

// jsonKeys encodes column names once, for jsonRow.
func jsonKeys(cols []string) []string {
	keys := make([]string, len(cols))
	for i, c := range cols {
		var b strings.Builder
		jsonString(&b, c)
		keys[i] = b.String()
	}
	return keys
}

// jsonRow writes row as one JSON object keyed by keys (from jsonKeys).
func jsonRow(b *strings.Builder, keys []string, row []any) {
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte(':')
		jsonValue(b, row[i])
	}
	b.WriteByte('}')
}

func jsonValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		switch {
		case math.IsInf(x, 1):
			b.WriteString(`"Inf"`) // SQLite's text for it; JSON has no infinity
		case math.IsInf(x, -1):
			b.WriteString(`"-Inf"`)
		case math.IsNaN(x):
			b.WriteString("null")
		default:
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
	case string:
		jsonString(b, x)
	case []byte:
		jsonString(b, string(x))
	default:
		jsonString(b, fmt.Sprint(x))
	}
}

func jsonString(b *strings.Builder, s string) {
	s = textesc.Escape(s, textesc.Invalid)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hexDigits[r>>4])
			b.WriteByte(hexDigits[r&0xF])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

const hexDigits = "0123456789ABCDEF"

// displayValue renders a value for the text modes: numbers as SQLite
// prints them, NULL empty, text through escapeText so a hostile file name
// cannot break the table or the terminal.
func displayValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return sqliteReal(x)
	case string:
		return escapeText(x)
	case []byte:
		return escapeText(string(x))
	default:
		return escapeText(fmt.Sprint(x))
	}
}

// sqliteReal formats a REAL as SQLite's "%!.15g" does: always with a decimal
// point, so 1000.0 reads as a real and not as an integer.
func sqliteReal(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return ""
	}
	s := strconv.FormatFloat(f, 'g', 15, 64)
	mant, exp, hasExp := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	if hasExp {
		return mant + "e" + exp
	}
	return mant
}

// escapeText makes text safe and unambiguous on a terminal: control
// characters, DEL and bytes of invalid UTF-8 become \xNN, and a backslash
// that would read as an escape is doubled (package textesc), so two
// different names never print the same.
func escapeText(s string) string { return textesc.Escape(s, textesc.Controls) }

// runShell is an osqueryi-style prompt: statements end with ';' and may
// span lines; lines starting with '.' are meta-commands. It reads any
// stdin, so a pipe works as a script; prompts are shown only on a terminal.
func runShell(args []string, e env, tables tableSource) int {
	fs := flag.NewFlagSet("shell", flag.ContinueOnError)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "start in json mode")
	pos, code, done := hostFlags("shell", fs, &c, args, e)
	if done {
		return code
	}
	if len(pos) != 0 {
		fmt.Fprintln(e.stderr, "usage: modhunt.ext shell [--json]   (SQL comes from stdin)")
		return 2
	}
	// A person at the prompt expects module_load_events to fill while they
	// type; a script piped in reads it when it asks.
	c.startEvents = isTerminal(e.stdin)
	db, err := openHost(&c, e, tables)
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext shell: %v\n", err)
		return 1
	}
	defer func() { _ = db.Close() }() // in memory: nothing to lose on close

	sh := &shell{db: db, e: e, mode: modePretty, interactive: isTerminal(e.stdin)}
	if *asJSON {
		sh.mode = modeJSON
	}
	return sh.loop()
}

type shell struct {
	db          *sqlhost.DB
	e           env
	mode        string
	interactive bool
	// writeErr is the first failed write to stdout: with nobody reading
	// (a closed pipe) the shell stops.
	writeErr error
}

const (
	prompt     = "modhunt> "
	contPrompt = "    ...> "
)

func (sh *shell) loop() int {
	if sh.interactive {
		fmt.Fprintln(sh.e.stdout, `modhunt.ext shell: SQL over modhunt's tables. Type ".help" for help, end statements with ";".`)
	}
	in := bufio.NewScanner(sh.e.stdin)
	in.Buffer(make([]byte, 0, 64<<10), maxSQL)
	var pending string
	for {
		if sh.interactive {
			if pending == "" {
				fmt.Fprint(sh.e.stdout, prompt)
			} else {
				fmt.Fprint(sh.e.stdout, contPrompt)
			}
		}
		if sh.writeErr != nil {
			return 1
		}
		if !in.Scan() {
			break
		}
		line := in.Text()
		if pending == "" && strings.HasPrefix(strings.TrimSpace(line), ".") {
			if quit := sh.meta(strings.TrimSpace(line)); quit {
				return sh.finish()
			}
			continue
		}
		pending += line + "\n"
		if len(pending) > maxSQL {
			sh.errorf("statement longer than %d bytes, discarded", maxSQL)
			pending = ""
			continue
		}
		stmts, rest := sqlhost.Split(pending)
		for _, s := range stmts {
			sh.run(s)
		}
		pending = rest
	}
	if err := in.Err(); err != nil {
		sh.errorf("read: %v", err)
		return 1
	}
	// A last statement without its ';' still runs, as `query` runs it.
	if pending != "" {
		sh.run(pending)
	}
	return sh.finish()
}

func (sh *shell) finish() int {
	if sh.writeErr != nil {
		return 1
	}
	return 0
}

func (sh *shell) errorf(format string, args ...any) {
	fmt.Fprintf(sh.e.stderr, "Error: "+format+"\n", args...)
}

func (sh *shell) run(stmt string) {
	ctx := context.Background()
	if sh.interactive {
		// Ctrl-C stops the running statement, not the shell.
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
	}
	cols, rows, err := sh.db.Query(ctx, stmt)
	if err != nil {
		sh.errorf("%v", err)
		return
	}
	if err := writeRows(sh.e.stdout, sh.mode, cols, rows); err != nil && sh.writeErr == nil {
		sh.writeErr = err
	}
}

const shellHelp = `.help              this text
.tables            list the tables
.schema [TABLE]    show the columns of every table, or of TABLE
.mode [MODE]       show or set the output mode: pretty, json or line
.quit, .exit       leave (so does end of input)
SQL statements end with ";" and may span lines.
`

// meta runs a dot command and reports whether the shell should exit.
func (sh *shell) meta(line string) bool {
	fields := strings.Fields(line)
	cmd, args := fields[0], fields[1:]
	switch cmd {
	case ".quit", ".exit", ".q":
		return true
	case ".help":
		fmt.Fprint(sh.e.stdout, shellHelp)
	case ".tables":
		for _, n := range sh.tableNames() {
			fmt.Fprintf(sh.e.stdout, "  => %s\n", n)
		}
	case ".schema":
		if len(args) > 1 {
			sh.errorf("usage: .schema [TABLE]")
			break
		}
		names := sh.tableNames()
		if len(args) == 1 {
			t := sh.db.Table(args[0])
			if t == nil {
				sh.errorf("no such table: %s", args[0])
				break
			}
			names = []string{t.Name}
		}
		for _, n := range names {
			fmt.Fprintln(sh.e.stdout, schema(sh.db.Table(n)))
		}
	case ".mode":
		switch {
		case len(args) == 0:
			fmt.Fprintf(sh.e.stdout, "current output mode: %s\n", sh.mode)
		case len(args) == 1 && slices.Contains([]string{modePretty, modeJSON, modeLine}, args[0]):
			sh.mode = args[0]
		default:
			sh.errorf("usage: .mode pretty|json|line")
		}
	default:
		sh.errorf("unknown command %q; try .help", cmd)
	}
	return false
}

func (sh *shell) tableNames() []string {
	var names []string
	for _, t := range sh.db.Tables() {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return names
}

// schema prints a table's definition as osqueryi's .schema does, with
// osquery's types (what the same SQL sees inside osquery).
func schema(t *table.Table) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(t.Name)
	b.WriteByte('(')
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "`%s` %s", c.Name, c.Type)
	}
	b.WriteString(");")
	return b.String()
}

// isTerminal reports whether r is an interactive terminal, the one case
// where the shell prints its banner and prompts.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
