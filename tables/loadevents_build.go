package tables

import (
	"context"
	"fmt"
	"slices"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/loadevents"
	"github.com/modhunt/modhunt/tables/loadstream"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/verdict"
)

// buildLoadEvents makes the host's load event stream when the OS serves
// module_load_events and the caller gave none: judged by the host's judge
// (the reasons untrusted_module_loads gives) and matched against the same
// rules as module_detections. It starts now only when asked (a long-running
// host); otherwise the first query of its tables starts it.
func buildLoadEvents(d *deps.Deps, mine []table.Spec) error {
	if d.LoadEvents != nil || !slices.ContainsFunc(mine, func(s table.Spec) bool { return s.Name == loadevents.Name }) {
		return nil
	}
	cfg := loadstream.Config{
		Log: d.Log, Expiry: d.Events.Expiry, MaxEvents: d.Events.MaxEvents, Disabled: d.Events.Disabled,
		SyscallHooks: d.Events.SyscallHooks, OnBufferBytes: d.Events.OnBufferBytes,
	}
	if lj, ok := d.Judge.(verdict.LoadJudge); ok {
		cfg.Judge = lj
	}
	engine, rep, err := detections.Load(true, d.RuleDirs)
	if err != nil {
		return fmt.Errorf("%s: %w", loadevents.Name, err)
	}
	for _, s := range rep.Skipped {
		d.Log.Debug("rule skipped for load events", "file", s.File, "line", s.Line, "reason", s.Reason)
	}
	cfg.Rules = engine
	d.LoadEvents = loadstream.New(cfg)
	if d.Events.StartNow {
		// An unavailable source is reported by its status table, not here.
		_ = d.LoadEvents.Start(context.Background())
	}
	return nil
}
