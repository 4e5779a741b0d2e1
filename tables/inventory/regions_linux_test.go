package inventory

import (
	"context"
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestRegionsOfThisProcess: the memory view has this test binary as an
// image, anonymous executable memory as private, and each region's
// protection and backing file.
func TestRegionsOfThisProcess(t *testing.T) {
	t.Parallel()
	mem, err := unix.Mmap(-1, 0, 2*os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Munmap(mem) })
	addr := uint64(uintptr(unsafe.Pointer(&mem[0])))

	exe, err := os.Executable()
	require.NoError(t, err)
	var st unix.Stat_t
	require.NoError(t, unix.Stat(exe, &st))

	regions, err := New(Config{}).Regions(context.Background(), os.Getpid())
	require.NoError(t, err)
	var anon, image bool
	for i, r := range regions {
		if i > 0 {
			assert.GreaterOrEqual(t, r.Start, regions[i-1].Start+regions[i-1].Size, "address order, no overlap")
		}
		if r.Start <= addr && addr < r.Start+r.Size {
			anon = true
			assert.Equal(t, RegionPrivate, r.Type)
			assert.Equal(t, "rwx", r.Prot.String())
			assert.Empty(t, r.Path)
		}
		if r.File.Ino == st.Ino && r.File.Dev == st.Dev {
			image = true
			assert.Equal(t, RegionImage, r.Type, "the test binary is mapped executable: a loaded image")
			assert.Equal(t, exe, r.Path)
		}
	}
	assert.True(t, anon, "the anonymous rwx region at %#x", addr)
	assert.True(t, image, "the test binary's mappings")

	_, err = New(Config{}).Regions(context.Background(), -1)
	require.Error(t, err)
}

// TestOpenMemoryReadsAtVirtualAddresses: bytes written into this process's
// anonymous mapping read back through OpenMemory at the same address, and
// an unmapped address fails instead of reading something else.
func TestOpenMemoryReadsAtVirtualAddresses(t *testing.T) {
	t.Parallel()
	page := os.Getpagesize()
	m, err := New(Config{}).OpenMemory(os.Getpid())
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	// The hole can be taken by any mmap this process makes meanwhile
	// (other tests run in parallel): then the read of it succeeds, and the
	// scenario is built again.
	for attempt := 0; ; attempt++ {
		mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		require.NoError(t, err)
		copy(mem[page-4:], "BSJB-marker")
		addr := uintptr(unsafe.Pointer(&mem[0]))
		// A hole right after the first page (unix.Munmap only takes whole mappings).
		_, _, errno := unix.Syscall(unix.SYS_MUNMAP, addr+uintptr(page), uintptr(page), 0)
		require.Zero(t, errno)

		got := make([]byte, 4)
		_, err = m.ReadAt(got, int64(addr)+int64(page)-4)
		require.NoError(t, err)
		assert.Equal(t, "BSJB", string(got))
		_, holeErr := m.ReadAt(got, int64(addr)+int64(page))
		// msync fails with ENOMEM on a range nothing maps.
		_, _, unmapped := unix.Syscall(unix.SYS_MSYNC, addr+uintptr(page), uintptr(page), unix.MS_ASYNC)
		// Only the first page: the hole may hold another test's mapping.
		_, _, _ = unix.Syscall(unix.SYS_MUNMAP, addr, uintptr(page), 0)
		if unmapped != unix.ENOMEM && attempt < 5 {
			continue // taken meanwhile
		}
		require.Equal(t, unix.ENOMEM, unmapped, "the hole stayed unmapped in none of %d attempts", attempt+1)
		require.Error(t, holeErr, "the unmapped page after it")
		break
	}

	_, err = New(Config{}).OpenMemory(-1)
	require.Error(t, err)
}

// TestRegionsMemfdAndDeleted: a memfd mapping is Memfd and Deleted with
// the kernel's /memfd:NAME, an unlinked file is Deleted with its name
// without " (deleted)", and a file really named "x (deleted)" that is
// still on disk is neither.
func TestRegionsMemfdAndDeleted(t *testing.T) {
	t.Parallel()
	page := os.Getpagesize()
	mapFD := func(fd int) uint64 {
		require.NoError(t, unix.Ftruncate(fd, int64(page)))
		b, err := unix.Mmap(fd, 0, page, unix.PROT_READ, unix.MAP_SHARED)
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Munmap(b) })
		return uint64(uintptr(unsafe.Pointer(&b[0])))
	}
	mfd, err := unix.MemfdCreate("regions-test", unix.MFD_CLOEXEC)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(mfd) })
	memfdAt := mapFD(mfd)

	dir := t.TempDir()
	open := func(name string) int {
		fd, err := unix.Open(dir+"/"+name, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Close(fd) })
		return fd
	}
	goneAt := mapFD(open("gone"))
	require.NoError(t, os.Remove(dir+"/gone"))
	namedAt := mapFD(open("named (deleted)"))

	regions, err := New(Config{}).Regions(context.Background(), os.Getpid())
	require.NoError(t, err)
	seen := 0
	for _, r := range regions {
		switch r.Start {
		case memfdAt:
			seen++
			assert.True(t, r.Memfd)
			assert.True(t, r.Deleted)
			assert.Equal(t, "/memfd:regions-test", r.Path)
		case goneAt:
			seen++
			assert.False(t, r.Memfd)
			assert.True(t, r.Deleted)
			assert.Equal(t, dir+"/gone", r.Path)
		case namedAt:
			seen++
			assert.False(t, r.Memfd)
			assert.False(t, r.Deleted, "still on disk: the name only looks deleted")
			assert.Equal(t, dir+"/named (deleted)", r.Path)
		}
	}
	assert.Equal(t, 3, seen, "all three mappings are in the view")
}
