//go:build !windows

package detections

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

func ruleText(id string) string {
	return "title: t\nid: " + id + "\nlogsource:\n  category: image_load\n  product: linux\n" +
		"detection:\n  sel:\n    ImageLoaded|endswith: '/x.so'\n  condition: sel\n"
}

// Rules decide what a root process reports: a rule file or folder that a
// user other than root could have written is skipped, and so is a symlink
// or a FIFO named like a rule, each with its path and the reason.
func TestRuleFolderTrust(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, id string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(ruleText(id)), 0o644))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	write("good.yml", "11111111-1111-4111-8111-111111111111", 0o644)
	world := write("world.yml", "22222222-2222-4222-8222-222222222222", 0o666)
	link := filepath.Join(dir, "link.yml")
	require.NoError(t, os.Symlink(filepath.Join(dir, "good.yml"), link))
	fifo := filepath.Join(dir, "fifo.yaml")
	sim.FIFO(t, fifo)
	open := filepath.Join(dir, "open")
	write("open/in-open-folder.yml", "33333333-3333-4333-8333-333333333333", 0o644)
	require.NoError(t, os.Chmod(open, 0o777))
	var other string
	if os.Geteuid() == 0 {
		// The case: a world-writable rule owned by another user.
		other = write("other.yml", "44444444-4444-4444-8444-444444444444", 0o666)
		require.NoError(t, os.Chown(other, 65534, 65534))
	}

	_, rep, err := Load(false, []string{dir})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Loaded, "only good.yml")
	assert.Empty(t, rep.FolderErrors)
	reasons := map[string]string{}
	for _, s := range rep.Skipped {
		reasons[s.File] = s.Reason
	}
	assert.Equal(t, "rule file unsafe: world-writable file (mode 0666)", reasons[world])
	assert.Equal(t, "rule file is a symlink: not followed", reasons[link])
	assert.Equal(t, "rule file is not a regular file (a FIFO)", reasons[fifo])
	assert.Equal(t, "rule folder unsafe: world-writable folder (mode 0777)", reasons[open])
	if other != "" {
		assert.True(t, strings.HasPrefix(reasons[other], "rule file unsafe: owned by uid 65534"), reasons[other])
	}

	// A world-writable rule folder given on the command line is refused
	// whole.
	require.NoError(t, os.Chmod(dir, 0o777))
	_, rep, err = Load(false, []string{dir})
	require.NoError(t, err)
	assert.Zero(t, rep.Loaded)
	require.Len(t, rep.FolderErrors, 1)
	assert.Equal(t, Skipped{File: dir, Reason: "rule folder unsafe: world-writable folder (mode 0777)"}, rep.FolderErrors[0])
}
