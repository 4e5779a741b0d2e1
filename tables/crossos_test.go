package tables_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/loadedmodules"
	"github.com/modhunt/modhunt/tables/moduledetections"
	"github.com/modhunt/modhunt/tables/moduleevents"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/trust"
	"github.com/modhunt/modhunt/tables/untrusted"
)

// osCase is another OS's host, fed to every table and the event builder
// on this one: nothing in them may assume Linux's shape.
type osCase struct {
	inv    *fakeinv.Inventory
	policy *trust.Policy
	// planted is the untrusted module; its bytes are content.
	planted, content string
	reasons          string
	// trusted is a module the policy trusts.
	trusted string
	// hidden is a module missing from the loader list ("" if none), and
	// the reasons it gets.
	hidden, hiddenReasons string
	// defaultTrusted: the OS's built-in policy (the one used without
	// Policy) trusts the trusted module.
	defaultTrusted bool
	// rule is the built-in rule's title that fires, and on which module.
	rule, ruleOn string
	platform     string
	user         string
}

func backing(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "module")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func windowsCase(t *testing.T) osCase {
	const content = "MZ planted dll bytes"
	return osCase{
		inv: fakeinv.Windows(backing(t, content)),
		policy: &trust.Policy{Source: "test", TrustedDirs: []trust.Dir{{Path: `C:\Windows`}, {Path: `C:\Program Files`}},
			TempDirs: []string{`C:\Windows\Temp`}},
		planted: `C:\Users\Public\evil.dll`, content: content, reasons: "outside_trusted_dirs",
		trusted: `C:\Windows\System32\kernel32.dll`, hidden: `C:\Users\Public\mapped.dll`,
		hiddenReasons: "hidden_from_loader,outside_trusted_dirs", defaultTrusted: true,
		rule: "Rundll32 With Comsvcs And The Minidump Library Loaded", ruleOn: `C:\Windows\System32\dbghelp.dll`,
		platform: detections.PlatformWindows, user: `DESKTOP-7\alice`,
	}
}

func macOSCase(t *testing.T) osCase {
	const content = "\xcf\xfa\xed\xfe planted dylib bytes"
	return osCase{
		inv: fakeinv.MacOS(backing(t, content)),
		policy: &trust.Policy{Source: "test", TrustedDirs: []trust.Dir{{Path: "/System"}, {Path: "/usr/lib"}, {Path: "/Library/Apple"}},
			TempDirs: []string{"/private/tmp", "/private/var/folders"}},
		planted: "/private/tmp/libinject.dylib", content: content, reasons: "outside_trusted_dirs,temp_dir",
		trusted: "/usr/lib/libSystem.B.dylib",
		rule:    "", ruleOn: "/private/tmp/libinject.dylib",
		platform: detections.PlatformDarwin, user: "alice", defaultTrusted: true,
	}
}

func forEachOS(t *testing.T, fn func(t *testing.T, c osCase)) {
	t.Run("windows", func(t *testing.T) { t.Parallel(); fn(t, windowsCase(t)) })
	t.Run("macos", func(t *testing.T) {
		t.Parallel()
		if runtime.GOOS == "windows" {
			t.Skip("the macOS host's modules are this host's files, statted for a Unix owner and mode; a Windows host has none")
		}
		fn(t, macOSCase(t))
	})
}

func cellOf(tbl *table.Table, r table.Row, col string) string {
	i := tbl.ColumnIndex(col)
	if i < 0 {
		panic(tbl.Name + " has no column " + col)
	}
	return r[i]
}

func TestOtherOSProcessLoadedModules(t *testing.T) {
	t.Parallel()
	forEachOS(t, func(t *testing.T, c osCase) {
		tbl, err := loadedmodules.New(deps.Deps{Inventory: c.inv})
		require.NoError(t, err)
		rows, err := tbl.Generate(context.Background(), table.PIDQuery([]int{fakeinv.PID}))
		require.NoError(t, err)
		paths := map[string]table.Row{}
		for _, r := range rows {
			assert.Equal(t, strconv.Itoa(fakeinv.PID), cellOf(tbl, r, "pid"))
			assert.Empty(t, cellOf(tbl, r, "device"), "no Linux device text for another OS's module")
			paths[cellOf(tbl, r, "path")] = r
		}
		require.Len(t, rows, len(c.inv.Procs[1].Modules))
		require.Contains(t, paths, c.planted)
		require.Contains(t, paths, c.trusted)
		if c.hidden != "" {
			require.Contains(t, paths, c.hidden, "a module missing from the loader list is still a mapped module")
		}
		assert.Equal(t, c.inv.Procs[1].Path, cellOf(tbl, paths[c.planted], "process_path"))
		name := c.planted[strings.LastIndexAny(c.planted, `/\`)+1:]
		assert.Equal(t, name, cellOf(tbl, paths[c.planted], "name"))
	})
}

func TestOtherOSUntrustedModuleLoads(t *testing.T) {
	t.Parallel()
	forEachOS(t, func(t *testing.T, c osCase) {
		j, err := untrusted.NewJudge(untrusted.Config{Inventory: c.inv, Policy: c.policy})
		require.NoError(t, err)
		tbl := j.Table()
		rows, err := tbl.Generate(context.Background(), table.Query{})
		require.NoError(t, err)
		got := map[string]table.Row{}
		for _, r := range rows {
			got[cellOf(tbl, r, "path")] = r
		}
		require.Contains(t, got, c.planted)
		r := got[c.planted]
		assert.Equal(t, c.reasons, cellOf(tbl, r, "reasons"))
		// The hasher checks that the file it opened is the one judged
		// (device and inode; volume serial and file id when the suite
		// runs on Windows): the fake's backing file passes.
		sum := sha256.Sum256([]byte(c.content))
		assert.Equal(t, hex.EncodeToString(sum[:]), cellOf(tbl, r, "sha256"), "hashed through the inventory's OpenModule")
		assert.Empty(t, cellOf(tbl, r, "sha256_skipped"))
		assert.NotContains(t, got, c.trusted, "the policy trusts it")
		if c.hidden != "" {
			h := got[c.hidden]
			require.NotNil(t, h)
			assert.Equal(t, c.hiddenReasons, cellOf(tbl, h, "reasons"))
			assert.Equal(t, "unreadable", cellOf(tbl, h, "sha256_skipped"))
		}
		for p := range got {
			assert.True(t, inventory.IsAbs(p), p)
		}

		// Without a policy, the per-OS default for the inventory's platform
		// applies: Windows' trusts C:\Windows, macOS's /usr/lib; never
		// Linux's.
		j, err = untrusted.NewJudge(untrusted.Config{Inventory: c.inv})
		require.NoError(t, err)
		rows, err = j.Table().Generate(context.Background(), table.Query{})
		require.NoError(t, err)
		paths := map[string]bool{}
		for _, r := range rows {
			paths[cellOf(tbl, r, "path")] = true
		}
		assert.Equal(t, !c.defaultTrusted, paths[c.trusted], "the Linux policy is not applied to another OS's paths")
		assert.True(t, paths[c.planted])
	})
}

func TestOtherOSEventsAndDetections(t *testing.T) {
	t.Parallel()
	forEachOS(t, func(t *testing.T, c osCase) {
		j, err := untrusted.NewJudge(untrusted.Config{Inventory: c.inv, Policy: c.policy})
		require.NoError(t, err)
		b, err := moduleevents.New(moduleevents.Config{Inventory: c.inv, Judge: j})
		require.NoError(t, err)
		events := map[string]detections.Event{}
		require.NoError(t, b.Scan(context.Background(), []int{fakeinv.PID}, func(_ *moduleevents.Process, ev *detections.Event) error {
			events[ev.ImageLoaded] = *ev
			return nil
		}))
		require.Contains(t, events, c.planted)
		ev := events[c.planted]
		assert.Equal(t, c.platform, ev.Platform)
		assert.Equal(t, c.user, ev.User)
		assert.Equal(t, c.inv.Procs[0].Path, ev.ParentImage, "the parent is read through the same inventory")
		assert.Equal(t, c.reasons, joinReasons(ev.UntrustedReasons))
		evSum := sha256.Sum256([]byte(c.content))
		assert.Equal(t, "SHA256="+hex.EncodeToString(evSum[:]), ev.Hashes)
		assert.True(t, ev.InLoaderList)
		assert.Empty(t, events[c.trusted].UntrustedReasons)
		if c.hidden != "" {
			assert.False(t, events[c.hidden].InLoaderList, "the inventory's loader list, not a Linux guess")
		}
		assert.NotContains(t, events, c.inv.Procs[1].Path, "the process's own image is not a load")

		md, err := moduledetections.New(deps.Deps{Inventory: c.inv, Judge: j})
		require.NoError(t, err)
		rows, err := md.Generate(context.Background(), table.PIDQuery([]int{fakeinv.PID}))
		require.NoError(t, err)
		fired := map[string]string{}
		for _, r := range rows {
			fired[cellOf(md, r, "rule_title")] = cellOf(md, r, "path")
			assert.Equal(t, c.user, cellOf(md, r, "user"))
		}
		if c.rule != "" {
			assert.Equal(t, c.ruleOn, fired[c.rule], "%v", fired)
		} else {
			found := false
			for _, on := range fired {
				found = found || on == c.ruleOn
			}
			assert.True(t, found, "a built-in rule of %s fires on %s: %v", c.platform, c.ruleOn, fired)
		}
	})
}

func joinReasons(rs []string) string { return strings.Join(rs, ",") }
