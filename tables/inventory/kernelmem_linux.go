package inventory

import (
	"bytes"
	"io"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/tables/procmaps"
)

// Shared anonymous memory (mmap MAP_SHARED|MAP_ANONYMOUS, or MAP_SHARED of
// /dev/zero), SysV shared memory and memfds are files too: the kernel
// backs them with unlinked files on mounts of its own that no mount
// namespace shows (shmem's shm_mnt, and one hugetlbfs mount per huge page
// size). maps prints them as "/dev/zero (deleted)", "/SYSV%08x (deleted)",
// "/anon_hugepage (deleted)" or "/memfd:NAME (deleted)". Any user can give
// a file of their own those names (in a tmpfs of their own namespace,
// mounted at / or detached, the path reads exactly the same), so a name
// proves nothing: the device does. No file system a process can mount
// shares a device number with these mounts.
//
// The devices are learned once, from files of those very kinds made in this
// process and thrown away at once:
//
//   - memfd_create, and memfd_create(MFD_HUGETLB) for each huge page size
//     the kernel has: fstat gives the device memfds live on;
//   - a one-page MAP_SHARED|MAP_ANONYMOUS mapping: its line in
//     /proc/self/maps gives the device shared anonymous memory (and SysV
//     segments, which the kernel makes the same way) lives on.
//
// Two probes rather than one, so that nothing rests on the kernel keeping
// memfds and shared anonymous memory on one mount (it does today).
//
// On these devices the kernel alone names the files: a memfd's name always
// starts with "memfd:" (memfd_create prepends it), and everything else there
// is anonymous shared memory or a driver's buffer, not a module.

type devNum struct{ major, minor uint32 }

var kernelMem = sync.OnceValue(probeKernelMem)

// hugeSizes are the memfd_create huge page size flags to try: 0 is the
// default size; an unsupported size fails with EINVAL and is skipped.
var hugeSizes = []int{
	0, unix.MFD_HUGE_64KB, unix.MFD_HUGE_512KB, unix.MFD_HUGE_1MB, unix.MFD_HUGE_2MB,
	unix.MFD_HUGE_8MB, unix.MFD_HUGE_16MB, unix.MFD_HUGE_32MB, unix.MFD_HUGE_256MB,
	unix.MFD_HUGE_512MB, unix.MFD_HUGE_1GB, unix.MFD_HUGE_2GB, unix.MFD_HUGE_16GB,
}

func probeKernelMem() []devNum {
	var devs []devNum
	add := func(d devNum) {
		for _, have := range devs {
			if have == d {
				return
			}
		}
		devs = append(devs, d)
	}
	if d, ok := memfdDevice(unix.MFD_CLOEXEC); ok {
		add(d)
	}
	for _, size := range hugeSizes {
		if d, ok := memfdDevice(unix.MFD_CLOEXEC | unix.MFD_HUGETLB | size); ok {
			add(d)
		}
	}
	if d, ok := sharedAnonDevice(); ok {
		add(d)
	}
	return devs
}

// memfdDevice makes an empty memfd (no memory, no huge page reserved) and
// returns the device it lives on.
func memfdDevice(flags int) (devNum, bool) {
	fd, err := unix.MemfdCreate("modhunt-probe", flags)
	if err != nil {
		return devNum{}, false
	}
	defer closeFD(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return devNum{}, false
	}
	return devNum{unix.Major(st.Dev), unix.Minor(st.Dev)}, true
}

// selfMapsMax bounds the read of our own maps for the shared anonymous
// probe: this process's maps, a few hundred lines.
const selfMapsMax = 8 << 20

// sharedAnonDevice maps one page of shared anonymous memory (never
// touched, so never backed) and reads its device from our own maps.
func sharedAnonDevice() (devNum, bool) {
	page := os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, page, unix.PROT_NONE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return devNum{}, false
	}
	defer func() { _ = unix.Munmap(mem) }()
	start := uint64(uintptr(unsafe.Pointer(&mem[0])))
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return devNum{}, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, selfMapsMax))
	if err != nil {
		return devNum{}, false
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		m, err := procmaps.Parse(line)
		if err == nil && m.Start == start && m.Perms&procmaps.PermShared != 0 && m.IsFile() {
			return devNum{m.Major, m.Minor}, true
		}
	}
	return devNum{}, false
}

// isKernelMem reports whether a mapping's device is one of the kernel's
// internal memory mounts.
func isKernelMem(major, minor uint32) bool {
	for _, d := range kernelMem() {
		if d.major == major && d.minor == minor {
			return true
		}
	}
	return false
}

// memfdPrefix starts the path of every memfd: the kernel names the file
// "memfd:" + the name the caller chose.
const memfdPrefix = "/memfd:"
