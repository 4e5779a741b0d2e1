package tables_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/table"
)

func machoSample(name string) string {
	return filepath.Join("..", "internal", "machofacts", "testdata", "samples", name)
}

// recordedMac is the recorded macOS loader run by the real macOS inventory,
// with its executable moved to /usr/bin (an Apple location, for the rule on
// unsigned dylibs in Apple's binaries) and its dylibs standing on committed
// Mach-O samples.
func recordedMac(t *testing.T) *inventory.Darwin {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "loader")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	rec, err := fakeinv.MacLoader(nil)
	require.NoError(t, err)
	p := rec.Procs[fakeinv.MacLoaderPID]
	p.Exe = "/usr/bin/loader"
	for i := range p.Regions {
		if v := &p.Regions[i].Vnode; v.Path == "/Users/alice/bin/loader" {
			v.Path = p.Exe
		}
	}
	rec.Files = map[string]string{
		"/private/tmp/evil.dylib":             machoSample("x86_64_unsigned.dylib"),
		"/Users/alice/.cache/libhidden.dylib": machoSample("arm64_signed.dylib"),
		"/Volumes/share/libremote.dylib":      machoSample("fat_half_signed.dylib"),
		"/usr/lib/dyld":                       machoSample("arm64_signed_exec"),
		"/usr/bin/loader":                     exe,
	}
	for path := range rec.Files {
		require.NoError(t, rec.SetVnode(fakeinv.MacLoaderPID, path))
	}
	return inventory.NewDarwin(inventory.Config{ModulesOnly: true}, rec)
}

// TestDarwinTablesOverRecordedInventory builds the tables macOS serves over
// the recorded macOS inventory and reads them as osquery would: the macOS
// rules fire on the loads they are about, with the macOS judgement's reasons
// and the Mach-O facts in their events.
func TestDarwinTablesOverRecordedInventory(t *testing.T) {
	t.Parallel()
	tbls, err := tables.BuildFor("darwin", deps.Deps{Inventory: recordedMac(t)})
	require.NoError(t, err)
	byName := map[string]*table.Table{}
	for _, tb := range tbls {
		byName[tb.Name] = tb
	}
	require.Len(t, byName, 3)

	md := byName["module_detections"]
	rows, err := md.Generate(context.Background(), table.Query{})
	require.NoError(t, err)
	fired := map[string][]string{}
	for _, r := range rows {
		title := cellOf(md, r, "rule_title")
		fired[title] = append(fired[title], cellOf(md, r, "path"))
		assert.Equal(t, "alice", cellOf(md, r, "user"))
		assert.True(t, strings.HasPrefix(cellOf(md, r, "rule_source"), "builtin:rules/darwin/"), cellOf(md, r, "rule_source"))
	}
	assert.Equal(t, []string{"/private/tmp/evil.dylib"}, fired["Dylib Injected With DYLD_INSERT_LIBRARIES"])
	assert.Equal(t, []string{"/private/tmp/evil.dylib"}, fired["Dylib Loaded From A Temporary Folder"])
	assert.ElementsMatch(t, []string{"/Users/alice/.cache/libhidden.dylib", "/Users/alice/lib/libgone.dylib"},
		fired["Dylib Loaded From A User Folder"])
	assert.ElementsMatch(t, []string{"/private/tmp/evil.dylib", "/Volumes/share/libremote.dylib"},
		fired["Unsigned Dylib Loaded By An Apple System Binary"], "Signed is false for an unsigned slice")
	assert.Len(t, fired, 4, "%v", fired)

	um := byName["untrusted_module_loads"]
	rows, err = um.Generate(context.Background(), table.PIDQuery([]int{fakeinv.MacLoaderPID}))
	require.NoError(t, err)
	assert.Len(t, rows, 4)

	lm := byName["process_loaded_modules"]
	q := table.PIDQuery([]int{fakeinv.MacLoaderPID})
	q.Used = table.UsedColumns("path", "signed", "process_path")
	rows, err = lm.Generate(context.Background(), q)
	require.NoError(t, err)
	for _, r := range rows {
		assert.Equal(t, "/usr/bin/loader", cellOf(lm, r, "process_path"))
		if cellOf(lm, r, "path") == "/private/tmp/evil.dylib" {
			assert.Equal(t, "0", cellOf(lm, r, "signed"))
		}
	}

	_, err = tables.BuildFor("windows", deps.Deps{Inventory: recordedMac(t)})
	assert.Error(t, err, "an inventory of another OS")
}
