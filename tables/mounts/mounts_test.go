package mounts

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixture(t *testing.T) []Mount {
	t.Helper()
	data, err := os.ReadFile("testdata/mountinfo")
	require.NoError(t, err)
	ms, err := Parse(data)
	require.NoError(t, err)
	require.Len(t, ms, 12)
	return ms
}

func TestParseFields(t *testing.T) {
	t.Parallel()
	ms := fixture(t)
	assert.Equal(t, Mount{
		ID: 60, Parent: 27, Major: 0, Minor: 52, Root: "/exports/tools", MountPoint: "/mnt/nfs tools",
		Options: "rw,relatime", FSType: "nfs4", Source: "fileserver:/exports/tools", SuperOptions: "rw,vers=4.2,rsize=1048576",
	}, ms[6], "optional fields are skipped and \\040 is a space")
	assert.True(t, ms[4].Noexec())
	assert.False(t, ms[2].Noexec())
	assert.True(t, ms[7].ReadOnly())
}

func TestFind(t *testing.T) {
	t.Parallel()
	ms := fixture(t)
	cases := []struct {
		name         string
		path         string
		major, minor uint32
		haveDev      bool
		wantID       int
		remote       bool
	}{
		{"root fs", "/usr/lib/x86_64-linux-gnu/libc.so.6", 254, 0, true, 27, false},
		{"root fs without device", "/usr/lib/libc.so.6", 0, 0, false, 27, false},
		{"overmounted dev/shm: the top mount wins", "/dev/shm/x.so", 0, 27, true, 30, false},
		{"overmounted dev/shm by path", "/dev/shm/x.so", 0, 0, false, 30, false},
		{"nfs with an escaped space", "/mnt/nfs tools/lib/libt.so", 0, 52, true, 60, true},
		{"nfs by path", "/mnt/nfs tools/lib/libt.so", 0, 0, false, 60, true},
		{"a prefix that is not a path component", "/mnt/nfs toolsX/lib.so", 0, 0, false, 27, false},
		{"cifs", "/mnt/share/a.so", 0, 53, true, 61, true},
		{"sshfs", "/home/u/remote/x/lib.so", 0, 54, true, 62, true},
		{"local fuse", "/home/u/local/lib.so", 0, 55, true, 63, false},
		{"9p host share", "/mnt/vm/lib.so", 0, 56, true, 65, true},
		{"bind mount of the root device", "/opt/bound/libb.so", 254, 0, true, 64, false},
		{"no mount of the device covers the path: the path decides", "/tmp/renamed.so", 0, 52, true, 50, false},
	}
	for _, c := range cases {
		m, ok := Find(ms, c.path, c.major, c.minor, c.haveDev)
		require.True(t, ok, c.name)
		assert.Equal(t, c.wantID, m.ID, c.name)
		assert.Equal(t, c.remote, m.Remote(), c.name)
	}
	_, ok := Find(nil, "/x", 0, 0, false)
	assert.False(t, ok)
}

// ByDevice never looks at a path: a file whose path is not its own is
// placed by its device alone, or nowhere.
func TestByDevice(t *testing.T) {
	t.Parallel()
	ms := fixture(t)
	m, ok := ByDevice(ms, 0, 52)
	require.True(t, ok)
	assert.Equal(t, "nfs4", m.FSType)
	assert.True(t, m.Remote())
	m, ok = ByDevice(ms, 254, 0)
	require.True(t, ok)
	assert.Equal(t, 64, m.ID, "the last mount of the device")
	assert.Equal(t, "ext4", m.FSType)
	_, ok = ByDevice(ms, 0, 99)
	assert.False(t, ok, "a detached mount is in no mountinfo")
}

func TestIsNetworkFS(t *testing.T) {
	t.Parallel()
	for _, fs := range []string{"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "fuse.sshfs", "fuse.s3fs", "fuse.rclone", "9p", "virtiofs"} {
		assert.True(t, IsNetworkFS(fs), fs)
	}
	for _, fs := range []string{"ext4", "xfs", "btrfs", "tmpfs", "overlay", "fuse", "fuse.lxcfs", "fuse.squashfuse", "squashfs", "proc", "nfsd"} {
		assert.False(t, IsNetworkFS(fs), fs)
	}
}

func TestUnescape(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a b\tc\nd\\e", Unescape(`a\040b\011c\012d\134e`))
	assert.Equal(t, `plain`, Unescape(`plain`))
	assert.Equal(t, `trail\04`, Unescape(`trail\04`))
	assert.Equal(t, `\999`, Unescape(`\999`))
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"27 1 254:0 / / rw - ext4\n":                  "mountinfo line 1: want at least 10 fields",
		"27 1 254:0 / / rw shared:1 ext4 /dev/vda rw": "mountinfo line 1: want at least 10 fields",
		"x 1 254:0 / / rw - ext4 /dev/vda rw":         `mountinfo line 1: mount id "x": not a number`,
		"1 y 254:0 / / rw - ext4 /dev/vda rw":         `mountinfo line 1: parent id "y": not a number`,
		"\n1 1 254 / / rw - ext4 /dev/vda rw":         `mountinfo line 2: device "254": want major:minor`,
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		assert.ErrorContains(t, err, want, in)
	}
	ms, err := Parse([]byte("27 1 254:0 / / rw - ext4 /dev/vda rw\nbad\n"))
	assert.Len(t, ms, 1, "the mounts before the bad line are kept")
	assert.Error(t, err)
}

func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/mountinfo")
	require.NoError(f, err)
	f.Add(data)
	f.Add([]byte(`1 2 3:4 /a\04 /b\134 rw - t s o`))
	f.Fuzz(func(t *testing.T, in []byte) {
		ms, _ := Parse(in)
		for _, m := range ms {
			Find(ms, m.MountPoint+"/x", m.Major, m.Minor, true)
		}
	})
}
