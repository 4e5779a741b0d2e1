//go:build !windows

package trust

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A policy decides what a root process trusts: one that a user other than
// root could have written (world-writable, or owned by that user) must be
// refused by name, like the flag file, not loaded to allowlist anything.
func TestPolicyOthersCouldWriteIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	doc := []byte("allow_processes:\n  - name: evil\n")

	world := filepath.Join(dir, "world.yml")
	require.NoError(t, os.WriteFile(world, doc, 0o644))
	require.NoError(t, os.Chmod(world, 0o666))
	p := &Policy{}
	err := p.LoadFile(Host{}, world)
	require.Error(t, err)
	assert.Equal(t, "policy "+world+": unsafe: world-writable file (mode 0666)", err.Error())
	assert.False(t, p.AllowsProcess("/x", "evil"))

	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	owned := filepath.Join(dir, "owned.yml")
	require.NoError(t, os.WriteFile(owned, doc, 0o644))
	require.NoError(t, os.Chown(owned, 65534, 65534))
	err = p.LoadFile(Host{}, owned)
	require.Error(t, err)
	assert.Equal(t, "policy "+owned+": unsafe: owned by uid 65534, neither root nor the running user (uid 0)", err.Error())
	assert.False(t, p.AllowsProcess("/x", "evil"))
}

// ld.so.conf decides which directories are trusted: an include file others
// could have written is refused with its name, and its directories are not
// trusted; the rest of the configuration still is.
func TestLdSoConfOthersCouldWriteIsRefused(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	conf := filepath.Join(root, "etc/ld.so.conf.d")
	require.NoError(t, os.MkdirAll(conf, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc/ld.so.conf"), []byte("include /etc/ld.so.conf.d/*.conf\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(conf, "good.conf"), []byte("/opt/good/lib\n"), 0o644))
	evil := filepath.Join(conf, "evil.conf")
	require.NoError(t, os.WriteFile(evil, []byte("/tmp/evil\n"), 0o644))
	require.NoError(t, os.Chmod(evil, 0o666))

	dirs, err := LdSoConfDirs(os.DirFS(root))
	assert.Equal(t, []string{"/opt/good/lib"}, dirs)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/etc/ld.so.conf.d/evil.conf: unsafe: world-writable file")
}
