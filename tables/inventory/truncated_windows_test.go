package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// A memory view cut short is visible: the walk of a process whose
// hand-mapped image lies above the cut misses that image (nothing can see
// it) but says so (Process.MemoryViewTruncated, a warn naming the pid, the
// TruncatedViews counter), and Regions returns the regions read with an
// error wrapping ErrViewTruncated. The limit is a region count placed just
// below the image, not a time: no test waits for the 2 s limit.
func TestMemoryViewCutShortIsReported(t *testing.T) {
	dll := dropDLL(t, "payload.dll", "modhunt_inv_cut.dll")
	pid, addrs := startFixture(t, "mapimage.exe", "mapped", dll)

	whole := New(Config{})
	all, err := whole.Regions(context.Background(), pid)
	if err != nil {
		t.Fatalf("whole view: %v", err)
	}
	below := 0
	for _, r := range all {
		if r.Start < addrs[0] {
			below++
		}
	}
	if below == 0 || below == len(all) {
		t.Fatalf("%d of %d regions below the hand-mapped image at %#x", below, len(all), addrs[0])
	}
	p := walkOne(t, whole, pid, DetailAll)
	if p.MemoryViewTruncated || moduleAt(p, addrs[0]) == nil {
		t.Fatalf("whole view: truncated %v, hand-mapped image found %v", p.MemoryViewTruncated, moduleAt(p, addrs[0]) != nil)
	}

	var logs bytes.Buffer
	cut := New(Config{MemoryMaxRegions: below, Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	before := TruncatedViews()
	rs, err := cut.Regions(context.Background(), pid)
	if !errors.Is(err, ErrViewTruncated) || len(rs) != below {
		t.Errorf("cut Regions: %d regions, err %v; want %d and ErrViewTruncated", len(rs), err, below)
	}
	p = walkOne(t, cut, pid, DetailAll)
	if !p.MemoryViewTruncated {
		t.Error("the walk's process is not marked MemoryViewTruncated")
	}
	if m := moduleAt(p, addrs[0]); m != nil {
		t.Errorf("a view cut below the image found it: %+v", *m)
	}
	if got := TruncatedViews() - before; got != 2 {
		t.Errorf("TruncatedViews grew by %d, want 2 (Regions and the walk)", got)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), fmt.Sprintf("pid=%d", pid)) {
		t.Errorf("no warn naming pid %d: %q", pid, logs.String())
	}
}
