package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Generating packs builds no table: packs learn where a table is served
// from its definition (tables.Specs), which is data. The proof is the
// linked binary: code packgen can reach is linked in, so a constructor,
// or anything that reads a policy, ld.so.conf, a package database or the
// rules, missing from its symbols is code packgen can never run.
func TestPackgenLinksNoTableConstructor(t *testing.T) {
	if testing.Short() {
		t.Skip("links packgen; skipped with -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to link packgen")
	}
	bin := filepath.Join(t.TempDir(), "packgen")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(gobin, "tool", "nm", bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	linked := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) >= 3 {
			linked[f[len(f)-1]] = true
		}
	}
	const mod = "github.com/modhunt/modhunt/"
	require.True(t, linked[mod+"packs.Generate"], "nm lists packgen's own functions")
	for _, fn := range []string{
		"tables.Build", "tables.build",
		"tables/loadedmodules.New", "tables/untrusted.New", "tables/untrusted.NewFromConfig",
		"tables/moduledetections.New", "tables/moduleevents.New",
		"tables/trust.Linux", "tables/pkgindex.Open", "detections.Load", "tables/inventory.New",
	} {
		assert.False(t, linked[mod+fn], "packgen links %s: generating packs could build a table", fn)
	}
}
