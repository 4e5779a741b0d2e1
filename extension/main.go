// Command modhunt.ext is the modhunt osquery extension and its stand-alone
// CLI: the same tables, served to osqueryd over Thrift or run locally through
// an embedded SQL engine.
//
//	modhunt.ext [--verbose] --socket PATH --timeout N --interval N   (as osqueryd starts it)
//	modhunt.ext --spec                                               (osquery table specs, JSON)
//	modhunt.ext query [--json] "SQL"                                 (embedded engine)
//	modhunt.ext shell                                                (interactive, like osqueryi)
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// env is what a command may touch of the outside world, so tests can run
// commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one sub-command of the CLI.
type command struct {
	summary string
	run     func(args []string, e env) int
}

// commands are filled in by the files that implement them.
var commands = map[string]command{}

func main() {
	os.Exit(run(os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}

func run(args []string, e env) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name := args[0]
		if name == "help" {
			usage(e.stdout)
			return 0
		}
		cmd, ok := commands[name]
		if !ok {
			fmt.Fprintf(e.stderr, "modhunt.ext: unknown command %q\n", name)
			usage(e.stderr)
			return 2
		}
		return cmd.run(args[1:], e)
	}
	// No sub-command: the way osqueryd launches an extension.
	return runExtension(args, e)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: modhunt.ext [--verbose] --socket PATH [--timeout N] [--interval N]")
	fmt.Fprintln(w, "       modhunt.ext --spec")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "       modhunt.ext %-8s %s\n", n, commands[n].summary)
	}
}
