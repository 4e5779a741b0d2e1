package packs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/extension/sqlhost"
	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/table"
)

// TestDarwinHuntsExecuteOverRecordedMac runs every hunt of the macOS pack
// whose tables modhunt serves through the embedded engine, over the macOS
// tables built on a recorded macOS host (the real macOS inventory and
// judgement, fed a recorded region walk; no Mac runs this): each must run,
// and the ones about what the recording holds must find it, in both forms.
func TestDarwinHuntsExecuteOverRecordedMac(t *testing.T) {
	t.Parallel()
	sample := func(n string) string { return filepath.Join("..", "internal", "machofacts", "testdata", "samples", n) }
	cache := filepath.Join(t.TempDir(), "dyld_shared_cache_arm64e")
	require.NoError(t, os.WriteFile(cache, []byte("dyld_v1  arm64e\x00 images..."), 0o644))
	rec, err := fakeinv.MacLoader(map[string]string{
		"/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e": cache,
		"/private/tmp/evil.dylib":             sample("x86_64_unsigned.dylib"),
		"/Users/alice/.cache/libhidden.dylib": sample("arm64_signed.dylib"),
		"/Volumes/share/libremote.dylib":      sample("fat_half_signed.dylib"),
		"/usr/lib/dyld":                       sample("arm64_signed_exec"),
	})
	require.NoError(t, err)
	tbls, err := tables.BuildFor("darwin", deps.Deps{Inventory: inventory.NewDarwin(inventory.Config{ModulesOnly: true}, rec)})
	require.NoError(t, err)
	db, err := sqlhost.Open(tbls, table.NewGuard(0, 0, nil), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	served := func(name string) bool { return db.Table(name) != nil }

	hunts, err := Load()
	require.NoError(t, err)
	mustFind := map[string]bool{
		"untrusted_module_temp_dir": true, "untrusted_dylib_inserted": true, "untrusted_module_remote": true,
		"untrusted_module_hidden": true, "module_detection_high": true, "untrusted_module_inventory": true,
	}
	// The shared cache is mapped executable in every process: it is code.
	mustBeEmpty := map[string]bool{"executable_mapping_of_non_code_file": true}
	ran := map[string]bool{}
	ctx := context.Background()
	for _, h := range ForPlatform(hunts, "darwin") {
		if reason := SkipReason(h, served, true); reason != "" {
			t.Logf("%s: parsed only: %s", h.Name, reason)
			continue
		}
		_, rows, err := db.Query(ctx, h.SQL)
		if !assert.NoError(t, err, "%s does not run", h.File) {
			continue
		}
		ran[h.Name] = true
		if mustFind[h.Name] {
			assert.NotEmpty(t, rows, "%s finds nothing on the recorded Mac", h.Name)
		}
		if mustBeEmpty[h.Name] {
			assert.Empty(t, rows, "%s: a false positive on every Mac", h.Name)
		}
		if h.Policy != "" {
			_, prow, err := db.Query(ctx, PolicyQuery(h))
			if assert.NoError(t, err, "%s: the policy form does not run", h.File) {
				assert.Equal(t, len(rows) == 0, len(prow) == 1, "%s: the policy passes exactly when the hunt finds nothing", h.Name)
			}
		}
	}
	for name := range mustBeEmpty {
		mustFind[name] = true
	}
	for name := range mustFind {
		assert.True(t, ran[name], "%s did not run", name)
	}
}
