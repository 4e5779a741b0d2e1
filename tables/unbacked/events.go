package unbacked

import (
	"context"
	"strconv"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/moduleevents"
)

// RegionFields are the event fields region events fill: a builder asks
// the rule engine whether any rule reads them (detections.Engine.ReadsAny)
// before paying for a second read of every memory map.
var RegionFields = []string{
	"RegionAddress", "RegionSize", "RegionProtection", "RegionType", "RegionHeader",
	"RegionDotNet", "RegionSha256", "RegionInParent", "JitHost",
}

// Events is the moduleevents.More source of region events: one event per
// unbacked executable region, after the process's module events and with
// the same process context, so a rule can combine a region with the
// modules the process holds (ProcessModules) and its command line.
type Events struct{ s *Scanner }

var _ moduleevents.More = Events{}

// NewEvents returns the region event source over the scanner's inventory.
func NewEvents(s *Scanner) Events { return Events{s: s} }

// Start begins one scan: one read budget for all of its processes.
func (e Events) Start(ctx context.Context) func(context.Context, *moduleevents.Process, *detections.Event, func(*moduleevents.Process, *detections.Event) error) error {
	s := e.s
	goos := s.inv.Platform()
	b := s.newBudget()
	buf := make([]byte, s.lim.PageBytes)
	return func(ctx context.Context, p *moduleevents.Process, base *detections.Event, fn func(*moduleevents.Process, *detections.Event) error) error {
		found, err := s.regions(ctx, goos, p.PID, true, b, buf)
		if err != nil {
			s.log.DebugContext(ctx, "regions unreadable", "pid", p.PID, "err", err)
			return nil
		}
		if len(found) == 0 {
			return nil
		}
		var parent []Finding
		if base.CloneOfParent && p.Parent != nil {
			// Dirty Vanity's clone inherits the region its parent was
			// injected with: read the parent's (rare: clones only).
			parent, _ = s.regions(ctx, goos, p.Parent.PID, true, b, buf)
		}
		jit := s.policy.IsJITHost(p.Path)
		ctxFields := *base
		for i := range found {
			f := &found[i]
			ev := base
			*ev = ctxFields
			ev.RegionAddress = "0x" + strconv.FormatUint(f.Start, 16)
			ev.RegionSize = int64(f.Size) //nolint:gosec // a region is far below 2^63 bytes
			ev.RegionProtection = protection(f.Prot)
			ev.RegionType = f.Type
			ev.RegionHeader = string(f.Header)
			ev.RegionDotNet = f.DotNet
			ev.RegionSha256 = f.SHA256
			ev.RegionInParent = len(parent) > 0 && f.SHA256 != "" && sameRegion(parent, f)
			ev.JitHost = jit
			// Present in every region event, false or not: a rule may ask
			// for RegionInParent: false.
			for _, n := range []string{"RegionSize", "RegionDotNet", "RegionInParent", "JitHost"} {
				ev.Set(n, fieldText(ev, n))
			}
			if err := fn(p, ev); err != nil {
				return err
			}
		}
		return nil
	}
}

func fieldText(ev *detections.Event, name string) string {
	switch name {
	case "RegionSize":
		return strconv.FormatInt(ev.RegionSize, 10)
	case "RegionDotNet":
		return strconv.FormatBool(ev.RegionDotNet)
	case "RegionInParent":
		return strconv.FormatBool(ev.RegionInParent)
	case "JitHost":
		return strconv.FormatBool(ev.JitHost)
	}
	return ""
}
