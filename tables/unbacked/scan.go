package unbacked

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/modhunt/modhunt/internal/platform"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/trust"
)

// Region types, as the region_type column spells them.
const (
	// Linux (and any OS whose memory view has no image/non-image split).
	TypeAnonymous   = "anonymous"    // no file: anonymous mmap, an executable heap or stack, shared anonymous memory
	TypeMemfd       = "memfd"        // a memfd_create file: it exists only in memory
	TypeDeletedFile = "deleted-file" // a file unlinked while mapped: no name on disk holds it any more
	// Windows.
	TypePrivate        = "private"          // MEM_PRIVATE: VirtualAlloc'd
	TypeMappedNonImage = "mapped-non-image" // MEM_MAPPED: a section mapped as data, made executable
)

// Limits bound what a scan reads of process memory. The zero value means
// the defaults below.
type Limits struct {
	// PageBytes is how much of each qualifying region is read (header and
	// sha256): its first page.
	PageBytes int
	// RowsPerProcess bounds the regions of one process that get a row.
	RowsPerProcess int
	// ReadsPerProcess bounds the regions of one process whose first page
	// is read; the later ones get a row without header and sha256.
	ReadsPerProcess int
	// ScanBytes bounds the bytes read from process memory in one scan.
	ScanBytes int64
	// ScanTime bounds one scan's reading of process memory: after it, rows
	// come from the memory maps alone.
	ScanTime time.Duration
}

// Defaults. One page of each region is all a header and a fleet-wide hash
// need; 256 reads per process cover every real process (a JVM or browser
// has tens of executable anonymous regions) while one spraying thousands
// cannot make a scan read megabytes from it; 16 MiB and 5 s per scan keep
// a host with many JIT processes cheap.
const (
	DefaultPageBytes       = 4096
	DefaultRowsPerProcess  = 65536 // vm.max_map_count's default: every region
	DefaultReadsPerProcess = 256
	DefaultScanBytes       = 16 << 20
	DefaultScanTime        = 5 * time.Second
)

func (l Limits) withDefaults() Limits {
	if l.PageBytes <= 0 {
		l.PageBytes = DefaultPageBytes
	}
	if l.RowsPerProcess <= 0 {
		l.RowsPerProcess = DefaultRowsPerProcess
	}
	if l.ReadsPerProcess <= 0 {
		l.ReadsPerProcess = DefaultReadsPerProcess
	}
	if l.ScanBytes <= 0 {
		l.ScanBytes = DefaultScanBytes
	}
	if l.ScanTime <= 0 {
		l.ScanTime = DefaultScanTime
	}
	return l
}

// Finding is one executable region no image file backs.
type Finding struct {
	inventory.Region
	// Type is the region_type (TypeAnonymous, ...).
	Type string
	// Header and DotNet are what the first page holds; SHA256 its hash
	// (hex). All empty when the page was not read.
	Header Header
	DotNet bool
	SHA256 string
}

// kernelMappings are the executable mappings the Linux kernel itself puts
// in every process (or on some architectures): code, but the kernel's.
// Their names are brackets the kernel alone writes; a name a process gives
// its anonymous memory (prctl PR_SET_VMA_ANON_NAME) reads [anon:NAME].
var kernelMappings = map[string]bool{"[vdso]": true, "[vsyscall]": true, "[vectors]": true, "[sigpage]": true, "[uprobes]": true}

// Qualify says whether a region is executable memory no image file backs
// on an OS (a GOOS), and its region_type. On Linux that is code no file on
// disk holds: anonymous memory (private or shared, but not the kernel's
// [vdso]), memfd files, and files unlinked while mapped. A file mapping of
// a file still on disk is an image whatever it holds: the file can be read
// and hashed where it lies. On Windows it is MEM_PRIVATE and MEM_MAPPED
// (not MEM_IMAGE) memory with an execute protection.
func Qualify(goos string, r *inventory.Region) (string, bool) {
	if r.Prot&inventory.ProtExec == 0 {
		return "", false
	}
	if goos == platform.Windows {
		switch r.Type {
		case inventory.RegionPrivate:
			return TypePrivate, true
		case inventory.RegionMapped, inventory.RegionAnonymous:
			// A pagefile-backed section (no file: the inventory's
			// anonymous) is MEM_MAPPED too.
			return TypeMappedNonImage, true
		}
		return "", false
	}
	switch {
	case r.Memfd:
		return TypeMemfd, true
	case r.Deleted && (r.Type == inventory.RegionImage || r.Type == inventory.RegionMapped):
		return TypeDeletedFile, true
	case r.Type == inventory.RegionPrivate:
		return TypeAnonymous, true
	case r.Type == inventory.RegionAnonymous && !kernelMappings[r.Path]:
		return TypeAnonymous, true
	}
	return "", false
}

// Scanner finds the unbacked executable regions of processes.
type Scanner struct {
	inv    inventory.Source
	policy *trust.Policy
	lim    Limits
	log    *slog.Logger
	// onRead, when set, is called before each read of a region's first
	// page (tests count reads).
	onRead func(pid int, addr uint64)
	reads  atomic.Int64
	// stuck counts reads of process memory that have not returned yet.
	stuck       atomic.Int32
	readTimeout time.Duration
}

// budget is one scan's allowance of memory reads.
type budget struct {
	deadline time.Time
	bytes    int64
	spent    bool // logged once
}

func (s *Scanner) newBudget() *budget {
	return &budget{deadline: time.Now().Add(s.lim.ScanTime), bytes: s.lim.ScanBytes}
}

func (b *budget) take(n int) bool {
	if b.bytes < int64(n) || time.Now().After(b.deadline) {
		return false
	}
	b.bytes -= int64(n)
	return true
}

// regions returns pid's unbacked executable regions in address order,
// reading each one's first page when read is set and the budget allows.
// buf is scratch of at least PageBytes.
func (s *Scanner) regions(ctx context.Context, goos string, pid int, read bool, b *budget, buf []byte) ([]Finding, error) {
	rs, err := s.inv.Regions(ctx, pid)
	if errors.Is(err, inventory.ErrViewTruncated) {
		// The regions read are true and reported; above the cut nothing
		// is known, and the rows do not pretend otherwise.
		s.log.WarnContext(ctx, "memory view cut short: executable memory above it is not reported", "pid", pid, "err", err)
		err = nil
	}
	if err != nil {
		return nil, err
	}
	var out []Finding
	var mem inventory.Memory
	var memErr error
	defer func() {
		if mem != nil {
			_ = mem.Close()
		}
	}()
	reads, dropped := 0, 0
	for i := range rs {
		typ, ok := Qualify(goos, &rs[i])
		if !ok {
			continue
		}
		if len(out) >= s.lim.RowsPerProcess {
			dropped++
			continue
		}
		f := Finding{Region: rs[i], Type: typ}
		if read && reads < s.lim.ReadsPerProcess && f.Start <= math.MaxInt64 && memErr == nil {
			n := int(min(uint64(s.lim.PageBytes), f.Size))
			if n > 0 && b.take(n) {
				if mem == nil {
					mem, memErr = s.inv.OpenMemory(pid)
				}
				if memErr == nil {
					reads++
					if !s.readPage(pid, mem, &f, buf[:n]) {
						// A read that hangs: no more reads in this scan.
						b.bytes = 0
						s.log.WarnContext(ctx, "process memory read timed out: later regions have no header",
							"pid", pid, "address", f.Start, "timeout", s.readTimeout)
					}
				} else {
					s.log.DebugContext(ctx, "process memory unreadable", "pid", pid, "err", memErr)
				}
			} else if !b.spent && n > 0 {
				b.spent = true
				s.log.DebugContext(ctx, "memory read budget spent: later regions have no header", "pid", pid)
			}
		}
		out = append(out, f)
	}
	if dropped > 0 {
		s.log.DebugContext(ctx, "regions past the per-process bound", "pid", pid, "dropped", dropped)
	}
	return out, nil
}

// ReadTimeout bounds one read of process memory. A read of a deleted-file
// region faults its page in from the file system, which a FUSE daemon (or
// a dead NFS server) may never answer: past the timeout the read is left
// behind, the region's row goes without a header, and the scan reads no
// more memory. At most MaxStuckReads such reads are outstanding at once,
// across scans; while they are, scans read no memory at all.
const (
	ReadTimeout   = 2 * time.Second
	MaxStuckReads = 4
)

// readPage reads the region's first page into buf and classifies it. A
// page that reads short (the region shrank) is classified from what was
// read but not hashed: a hash of part of a page would stack with nothing.
// It reports false when the read did not return in time.
func (s *Scanner) readPage(pid int, mem inventory.Memory, f *Finding, buf []byte) bool {
	if s.onRead != nil {
		s.onRead(pid, f.Start)
	}
	s.reads.Add(1)
	n, err, ok := s.readAt(mem, buf, int64(f.Start))
	if !ok {
		return false
	}
	if n == 0 || (err != nil && !errors.Is(err, io.EOF)) && n < len(buf) {
		return true
	}
	f.Header, f.DotNet = Classify(buf[:n])
	if n == len(buf) {
		sum := sha256.Sum256(buf)
		f.SHA256 = hex.EncodeToString(sum[:])
	}
	return true
}

type readResult struct {
	n   int
	err error
}

// readAt is mem.ReadAt into buf within ReadTimeout. The read runs on its
// own goroutine into its own buffer, so one left behind never writes into
// buf; the memory handle stays open until it returns (os.File defers the
// close of a descriptor in use).
func (s *Scanner) readAt(mem inventory.Memory, buf []byte, off int64) (int, error, bool) {
	if s.stuck.Load() >= MaxStuckReads {
		return 0, nil, false
	}
	own := make([]byte, len(buf))
	done := make(chan readResult, 1)
	// Whoever of the reader and the waiter comes second settles: the
	// waiter that gives up counts the read as stuck, the reader that
	// returns after that uncounts it.
	var settled atomic.Bool
	go func() {
		n, err := mem.ReadAt(own, off)
		done <- readResult{n, err}
		if settled.Swap(true) {
			s.stuck.Add(-1)
		}
	}()
	t := time.NewTimer(s.readTimeout)
	defer t.Stop()
	var r readResult
	select {
	case r = <-done:
	case <-t.C:
		if !settled.Swap(true) {
			s.stuck.Add(1)
			return 0, nil, false
		}
		r = <-done // returned just now
	}
	copy(buf, own[:r.n])
	return r.n, r.err, true
}

// sameRegion reports whether parent holds the region f: an unbacked
// executable region at the same address, of the same size, whose first page
// hashes the same (both hashed), as a process reflection clone inherits it.
func sameRegion(parent []Finding, f *Finding) bool {
	for i := range parent {
		p := &parent[i]
		if p.Start == f.Start && p.Size == f.Size && p.SHA256 != "" && p.SHA256 == f.SHA256 {
			return true
		}
	}
	return false
}
