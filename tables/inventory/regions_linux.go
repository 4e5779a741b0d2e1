package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/procmaps"
)

// maxRegionsMaps bounds the maps read for Regions: 65530 mappings (the
// default vm.max_map_count) of lines near PATH_MAX stay far below it.
const maxRegionsMaps = 64 << 20

// Regions is the memory view of process pid from /proc/PID/maps: every
// mapping, file-backed or anonymous, in address order. A file mapping is an
// image when the process maps that file executable anywhere (a loaded
// module), else mapped; anonymous private memory ([heap], [stack], mmap) is
// private; shared anonymous memory, SysV segments and the kernel's own
// mappings ([vdso], [vvar]) are anonymous. A memfd is a file (Memfd and
// Deleted set, Path /memfd:NAME). A file whose maps name ends in
// " (deleted)" is Deleted when its link count, read through map_files, is
// 0; without access to map_files the suffix decides.
func (inv *Inventory) Regions(ctx context.Context, pid int) ([]Region, error) {
	dir, err := inv.pidDir(pid)
	if err != nil {
		return nil, err
	}
	defer closeFD(dir)
	fd, err := unix.Openat(dir, "maps", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open maps of pid %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(fd), "maps")
	defer f.Close()
	bp := mapsBufs.Get().(*[]byte)
	defer mapsBufs.Put(bp)
	data, err := readBounded(f, bp, maxRegionsMaps)
	if err != nil {
		return nil, fmt.Errorf("read maps of pid %d: %w", pid, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	regions := make([]Region, 0, bytes.Count(data, []byte{'\n'}))
	exec := map[fileinfo.Key]bool{}
	deleted := map[fileinfo.Key]bool{}
	sc := procmaps.NewScanner(data)
	for sc.Scan() {
		if sc.Err() != nil {
			continue
		}
		m := sc.Mapping()
		r := Region{Start: m.Start, Size: m.Size(), Offset: m.Offset}
		if m.Perms&procmaps.PermRead != 0 {
			r.Prot |= ProtRead
		}
		if m.Perms&procmaps.PermWrite != 0 {
			r.Prot |= ProtWrite
		}
		if m.Perms&procmaps.PermExec != 0 {
			r.Prot |= ProtExec
		}
		if m.Perms&procmaps.PermShared != 0 {
			r.Prot |= ProtShared
		}
		path := m.Path
		switch {
		case m.IsFile() && (!isKernelMem(m.Major, m.Minor) || bytes.HasPrefix(path, []byte(memfdPrefix))):
			r.Type, r.File = RegionMapped, fileinfo.Key{Dev: unix.Mkdev(m.Major, m.Minor), Ino: m.Inode}
			if r.Prot&ProtExec != 0 {
				exec[r.File] = true
			}
			r.Memfd = isKernelMem(m.Major, m.Minor)
			if m.DeletedCandidate() {
				gone, ok := deleted[r.File]
				if !ok {
					gone = r.Memfd || unlinked(dir, m.Start, m.End)
					deleted[r.File] = gone
				}
				if gone {
					r.Deleted = true
					path = path[:len(path)-len(procmaps.DeletedSuffix)]
				}
			}
		case len(path) == 0 || string(path) == "[heap]" || string(path) == "[stack]":
			if r.Prot&ProtShared != 0 {
				r.Type = RegionAnonymous
			} else {
				r.Type = RegionPrivate
			}
		default:
			r.Type = RegionAnonymous
		}
		r.Path = string(path)
		regions = append(regions, r)
	}
	for i := range regions {
		if r := &regions[i]; r.Type == RegionMapped && exec[r.File] {
			r.Type = RegionImage
		}
	}
	return regions, nil
}

// unlinked reports whether the file mapped at start-end of the process
// whose /proc directory is dir has no link left: read on the file itself
// through map_files, so a file really named "x (deleted)" is not taken for
// an unlinked one. Without access to map_files the kernel's suffix is all
// there is.
func unlinked(dir int, start, end uint64) bool {
	var st unix.Stat_t
	name := "map_files/" + strconv.FormatUint(start, 16) + "-" + strconv.FormatUint(end, 16)
	if err := unix.Fstatat(dir, name, &st, 0); err != nil {
		return true
	}
	return st.Nlink == 0
}

// mapsBufs are Regions' read buffers: maps is generated anew by every read
// call, so one large read beats io.ReadAll's growing small ones, and a
// scan of every process reuses a few buffers instead of growing one each.
var mapsBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// readBounded reads f to its end, at most limit bytes, into *bp (grown as
// needed and kept for the next caller); the result aliases *bp.
func readBounded(f *os.File, bp *[]byte, limit int) ([]byte, error) {
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= limit {
				break
			}
			grown := make([]byte, len(buf), min(2*cap(buf)+4096, limit))
			copy(grown, buf)
			buf = grown
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) || (n == 0 && err == nil) {
			break
		}
		if err != nil {
			*bp = buf
			return nil, err
		}
	}
	*bp = buf
	return buf, nil
}
