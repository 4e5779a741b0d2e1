package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/modhunt/modhunt/extension/osqueryhost"
	"github.com/modhunt/modhunt/tables"
)

// extensionName is the name modhunt registers under: what osqueryd's
// --extensions_require and osquery_extensions.name see.
const extensionName = "modhunt"

// version is stamped at release time (-ldflags "-X main.version=...").
var version = "dev"

// osqueryd's own defaults for --extensions_timeout and --extensions_interval,
// used when the extension is started by hand without them.
const (
	defaultTimeout  = 3
	defaultInterval = 3
)

// runExtension serves the tables to osqueryd, as osqueryd launches an
// extension: [--verbose] --socket PATH --timeout N --interval N. With --spec
// it prints the tables' osquery specs instead.
func runExtension(args []string, e env) int {
	fs := flag.NewFlagSet("modhunt.ext", flag.ContinueOnError)
	var c common
	c.register(fs)
	socket := fs.String("socket", "", "osqueryd's extension manager socket (osqueryd passes this)")
	timeout := fs.Int("timeout", defaultTimeout, "seconds to wait for the socket, and for each exchange with osqueryd")
	interval := fs.Int("interval", defaultInterval, "seconds between checks that osqueryd is still there")
	spec := fs.Bool("spec", false, "print the osquery table specs as JSON and exit")

	// Tolerant: a newer osqueryd may pass flags this build does not know, and
	// exiting on them would only make osqueryd respawn the extension forever.
	// parse logs what it drops.
	rest, err := c.parse(fs, args, true)
	if errors.Is(err, flag.ErrHelp) {
		usage(e.stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "modhunt.ext: %v\n", err)
		usage(e.stderr)
		return 2
	}
	log := c.logger(e.stderr)
	if len(rest) > 0 {
		log.Warn("ignoring extra arguments", "args", strings.Join(rest, " "))
	}

	if *spec {
		// The definitions are data: printing them builds no table, so it
		// reads no policy, rule or package database.
		specs, err := osqueryhost.Specs(tables.SpecsFor(runtime.GOOS))
		if err != nil {
			fmt.Fprintf(e.stderr, "modhunt.ext: %v\n", err)
			return 1
		}
		out, err := json.MarshalIndent(specs, "", "  ")
		if err != nil {
			fmt.Fprintf(e.stderr, "modhunt.ext: %v\n", err)
			return 1
		}
		fmt.Fprintf(e.stdout, "%s\n", out)
		return 0
	}
	c.startEvents = true
	tbls, err := c.tables(log)
	if err != nil {
		// A policy or rule set nobody wrote is worse than no extension:
		// refuse to start and say what is broken.
		log.Error("refusing to start", "err", err)
		return 1
	}

	// osqueryd on Windows writes --socket "\\.\pipe\osquery.em"; the C
	// runtime's argument parsing strips those quotes, but a launcher that
	// does not must not leave them in the pipe name.
	sock := strings.Trim(*socket, `"`)
	if sock == "" {
		fmt.Fprintln(e.stderr, "modhunt.ext: --socket is required (osqueryd passes it), or --spec")
		usage(e.stderr)
		return 2
	}
	if *timeout <= 0 {
		log.Warn("timeout is not positive, using the default", "timeout", *timeout, "default", defaultTimeout)
		*timeout = defaultTimeout
	}
	// Seconds past a day are a typo, and past ~292 years they overflow a Duration.
	const maxSeconds = 24 * 60 * 60
	*timeout, *interval = min(*timeout, maxSeconds), min(*interval, maxSeconds)
	if *interval <= 0 {
		log.Warn("interval is not positive, using the default", "interval", *interval, "default", defaultInterval)
		*interval = defaultInterval
	}

	// osqueryd stops an extension with SIGTERM and kills it 11 s later.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log.Info("extension starting", "name", extensionName, "version", version, "socket", sock, "tables", len(tbls))
	err = osqueryhost.Serve(ctx, osqueryhost.Config{
		Name:     extensionName,
		Version:  version,
		Socket:   sock,
		Timeout:  time.Duration(*timeout) * time.Second,
		Interval: time.Duration(*interval) * time.Second,
		Tables:   tbls,
		Guard:    c.guard(log),
		Log:      log,
	})
	if err != nil {
		log.Error("extension failed", "err", err)
		return 1
	}
	log.Info("extension stopped")
	return 0
}
