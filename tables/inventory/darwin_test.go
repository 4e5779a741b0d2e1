package inventory_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/internal/darwinproc"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
)

// macHost is the recorded macOS host with evil.dylib and the loader
// standing on real files of this one.
func macHost(t *testing.T) (*inventory.Darwin, *fakeinv.MacRecording, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	evil := filepath.Join(dir, "evil")
	require.NoError(t, os.WriteFile(evil, []byte("\xcf\xfa\xed\xfe\x0c\x00\x00\x01 not really"), 0o600))
	exe := filepath.Join(dir, "loader")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o700))
	rec, err := fakeinv.MacLoader(map[string]string{"/private/tmp/evil.dylib": evil, "/Users/alice/bin/loader": exe})
	require.NoError(t, err)
	var log bytes.Buffer
	inv := inventory.NewDarwin(inventory.Config{Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))}, rec)
	return inv, rec, &log
}

func byPath(p inventory.Process) map[string]inventory.Module {
	out := map[string]inventory.Module{}
	for _, m := range p.Modules {
		out[m.Path] = m
	}
	return out
}

// TestDarwinInventoryRecorded runs the macOS inventory over a recorded
// region walk: one module per mapped file (not per region), executable from
// the protections, the deleted dylib from its vnode's link count, the
// executable marked, the process's context from BSD info and
// kern.procargs2, and the SIP-protected process skipped with a debug line.
func TestDarwinInventoryRecorded(t *testing.T) {
	t.Parallel()
	inv, _, log := macHost(t)
	procs, err := inventory.Processes(context.Background(), inv, nil)
	require.NoError(t, err)
	require.Len(t, procs, 2, "launchd and the loader; the refused process is skipped")
	assert.Contains(t, log.String(), "level=DEBUG msg=\"process not visible\" pid=16777317")
	assert.NotContains(t, log.String(), "WARN")

	p := procs[1]
	assert.Equal(t, fakeinv.MacLoaderPID, p.PID)
	assert.Equal(t, fakeinv.MacLaunchdPID, p.PPID)
	assert.Equal(t, "loader", p.Name)
	assert.Equal(t, "/Users/alice/bin/loader", p.Path)
	assert.Equal(t, "./loader /private/tmp/evil.dylib", p.Cmdline)
	assert.Equal(t, int64(501), p.UID)
	assert.Equal(t, "alice", p.User)
	assert.Equal(t, "launchd", procs[0].Name, "pbi_comm when pbi_name is empty")
	assert.Equal(t, "root", procs[0].User)

	mods := byPath(p)
	require.Len(t, p.Modules, 8, "%v", slices.Collect(func(yield func(string) bool) {
		for k := range mods {
			yield(k)
		}
	}))
	evil := mods["/private/tmp/evil.dylib"]
	assert.Equal(t, uint64(0x100068000), evil.Base)
	assert.Equal(t, uint64(0xc000), evil.Size, "three regions folded")
	assert.True(t, evil.Executable)
	assert.True(t, evil.InLoaderList)
	assert.False(t, evil.Deleted)
	assert.Equal(t, inventory.FileMachO, evil.FileType, "read from the file itself")
	assert.True(t, mods["/Users/alice/bin/loader"].Exe)
	assert.False(t, mods["/usr/lib/dyld"].Exe)
	assert.True(t, mods["/Users/alice/lib/libgone.dylib"].Deleted)
	assert.False(t, mods["/Users/alice/Library/Preferences/data.plist"].Executable)
	assert.Equal(t, inventory.FileUnknown, mods["/usr/lib/dyld"].FileType, "no file here stands for it")
	cache := mods["/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e"]
	assert.True(t, cache.Executable, "the unnested part of the shared cache is a module")
	assert.True(t, darwinproc.InSharedRegion(cache.Base))
}

// TestDarwinInventoryDetail: a walk reads only what its detail asks for.
func TestDarwinInventoryDetail(t *testing.T) {
	t.Parallel()
	_, rec, _ := macHost(t)
	var reads []string
	inv := inventory.NewDarwin(inventory.Config{OnRead: func(_ int, f string) { reads = append(reads, f) }}, rec)
	var got []inventory.Process
	require.NoError(t, inv.WalkDetail(context.Background(), []int{fakeinv.MacLoaderPID}, 0, func(p *inventory.Process) error {
		got = append(got, p.Clone())
		return nil
	}))
	require.Len(t, got, 1)
	assert.Equal(t, []string{"stat", "maps"}, reads)
	assert.Empty(t, got[0].Cmdline)
	assert.Empty(t, got[0].Path)
	for _, m := range got[0].Modules {
		assert.Empty(t, m.FileType)
	}
	// pid = 0 and unknown pids name nothing; a pid twice is read once.
	reads = nil
	n := 0
	require.NoError(t, inv.WalkDetail(context.Background(), []int{0, -1, fakeinv.MacLoaderPID, fakeinv.MacLoaderPID, 999999}, 0,
		func(*inventory.Process) error { n++; return nil }))
	assert.Equal(t, 1, n)
}

// TestDarwinModuleFiles: OpenModule and StatModule reach the mapped file
// only while its path still leads to it (same device and inode), never a
// file put in its place; ModuleFSType names the mount's type.
func TestDarwinModuleFiles(t *testing.T) {
	t.Parallel()
	inv, rec, _ := macHost(t)
	procs, err := inventory.Processes(context.Background(), inv, []int{fakeinv.MacLoaderPID})
	require.NoError(t, err)
	mods := byPath(procs[0])
	evil := mods["/private/tmp/evil.dylib"]
	f, err := inv.OpenModule(fakeinv.MacLoaderPID, &evil)
	require.NoError(t, err)
	_ = f.Close()
	fi, err := inv.StatModule(fakeinv.MacLoaderPID, &evil)
	require.NoError(t, err)
	assert.Equal(t, evil.File.Ino, fi.Ino)

	// Another file at the path: not the mapped one.
	other := filepath.Join(t.TempDir(), "other")
	require.NoError(t, os.WriteFile(other, []byte("x"), 0o600))
	rec.Files["/private/tmp/evil.dylib"] = other
	_, err = inv.OpenModule(fakeinv.MacLoaderPID, &evil)
	require.ErrorContains(t, err, "does not lead to the mapped file")
	_, err = inv.StatModule(fakeinv.MacLoaderPID, &evil)
	require.Error(t, err)

	remote := mods["/Volumes/share/libremote.dylib"]
	rec.Files[remote.Path] = other
	require.NoError(t, rec.SetVnode(fakeinv.MacLoaderPID, remote.Path))
	procs, err = inventory.Processes(context.Background(), inv, []int{fakeinv.MacLoaderPID})
	require.NoError(t, err)
	remote = byPath(procs[0])[remote.Path]
	fs, err := inv.ModuleFSType(fakeinv.MacLoaderPID, &remote)
	require.NoError(t, err)
	assert.Equal(t, "smbfs", fs)
}

// TestDarwinEnvironAndRegions: the environment comes from kern.procargs2
// within its byte bound; the memory view keeps every region with its type.
func TestDarwinEnvironAndRegions(t *testing.T) {
	t.Parallel()
	inv, _, _ := macHost(t)
	env, truncated, err := inv.Environ(fakeinv.MacLoaderPID, 0)
	require.NoError(t, err)
	assert.False(t, truncated)
	v, ok := inventory.LookupEnv(env, "DYLD_INSERT_LIBRARIES")
	assert.True(t, ok)
	assert.Equal(t, "/tmp/evil.dylib", v)
	env, truncated, err = inv.Environ(fakeinv.MacLoaderPID, 20)
	require.NoError(t, err)
	assert.True(t, truncated)
	assert.Equal(t, []string{"HOME=/Users/alice"}, env)
	_, _, err = inv.Environ(fakeinv.MacProtectedPID, 0)
	assert.ErrorIs(t, err, darwinproc.ErrNotPermitted)

	rs, err := inv.Regions(context.Background(), fakeinv.MacLoaderPID)
	require.NoError(t, err)
	require.Len(t, rs, 22, "every region, not only the files")
	types := map[inventory.RegionType]int{}
	for i, r := range rs {
		types[r.Type]++
		if i > 0 {
			assert.Greater(t, r.Start, rs[i-1].Start)
		}
		if r.Path == "[dyld shared region]" {
			assert.Equal(t, inventory.RegionAnonymous, r.Type)
		}
		if strings.HasSuffix(r.Path, "data.plist") {
			assert.Equal(t, inventory.RegionMapped, r.Type)
		}
	}
	assert.Equal(t, map[inventory.RegionType]int{inventory.RegionImage: 14, inventory.RegionMapped: 1,
		inventory.RegionPrivate: 5, inventory.RegionAnonymous: 2}, types)
	_, err = inv.OpenMemory(fakeinv.MacLoaderPID)
	assert.ErrorIs(t, err, inventory.ErrUnsupported)
	assert.Equal(t, "darwin", inv.Platform())
}
