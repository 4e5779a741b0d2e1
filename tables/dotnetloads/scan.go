package dotnetloads

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/modhunt/modhunt/internal/pefacts"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
)

// Limits bound the in-memory search. The zero value means the defaults.
// A Mono host running a small program has ~36 MiB of anonymous memory and
// a PowerShell or Visual Studio process a few hundred; the defaults let
// the first be searched whole and stop the second before it costs more
// than a second or two.
type Limits struct {
	// Regions is how many private/anonymous regions of one process are
	// searched at most (default 4096).
	Regions int
	// ProcessBytes is how many bytes of one process's memory are read at
	// most (default 256 MiB); the region that reaches it is searched up to
	// it.
	ProcessBytes int64
	// ProcessTime is the wall time one process's search may take (default
	// 2 s).
	ProcessTime time.Duration
	// QueryBytes is how many bytes one scan reads over all processes
	// (default 1 GiB): a host full of CLR processes still answers.
	QueryBytes int64
}

// Defaults for Limits' zero fields.
const (
	DefaultRegions      = 4096
	DefaultProcessBytes = 256 << 20
	DefaultProcessTime  = 2 * time.Second
	DefaultQueryBytes   = 1 << 30
)

func (l Limits) withDefaults() Limits {
	if l.Regions <= 0 {
		l.Regions = DefaultRegions
	}
	if l.ProcessBytes <= 0 {
		l.ProcessBytes = DefaultProcessBytes
	}
	if l.ProcessTime <= 0 {
		l.ProcessTime = DefaultProcessTime
	}
	if l.QueryBytes <= 0 {
		l.QueryBytes = DefaultQueryBytes
	}
	return l
}

// Load is one assembly loaded in one process.
type Load struct {
	// Path is the file the assembly is mapped from; "" when it is only in
	// memory.
	Path        string
	Assembly    pefacts.Assembly
	GAC         bool
	NativeImage bool
	InMemory    bool
	// InLoaderList is the file module's (never true in memory).
	InLoaderList bool
	// Base and Size: the file's mappings (as process_loaded_modules), or
	// where the in-memory copy lies (its MZ header, or its metadata root
	// when no PE header is with it) and how many bytes it spans.
	Base, Size uint64
}

// Host is a process that hosts a CLR.
type Host struct {
	*inventory.Process
	Runtime string
}

// Stats say what one scan did.
type Stats struct {
	Processes int // processes whose module list was read
	Hosts     int // of them, CLR hosts
	// Searched is how many processes' memory was searched, Regions how
	// many regions, BytesRead how many bytes the search read.
	Searched  int
	Regions   int
	BytesRead int64
	// Cut is how many processes' search a limit stopped early.
	Cut int
}

// Scanner finds the assemblies of CLR hosts. It is safe for concurrent use.
type Scanner struct {
	Inventory inventory.Source
	Log       *slog.Logger
	Limits    Limits
	// OnMemory, when set, is called with a pid just before its memory view
	// (Regions) or memory is read: tests count that non-CLR processes
	// never get there.
	OnMemory func(pid int)
}

// assemblyFact is a file's CLI assembly identity; nil for a file that is
// not an assembly (or a broken one), so no file is parsed twice.
var assemblyFact = fileinfo.NewFact[*pefacts.Assembly]("cli-assembly")

// Scan calls fn for every assembly of every CLR host among pids (nil:
// every process). The module lists are read first with no detail, and
// only the CLR hosts are read again with detail and searched, so a host
// without CLR processes costs one maps read per process. inMemory false
// skips the memory search. Errors of one process are logged, never
// returned; the error is ctx's or fn's.
func (s *Scanner) Scan(ctx context.Context, pids []int, detail inventory.Detail, inMemory bool,
	fn func(h *Host, l *Load) error) (Stats, error) {
	var st Stats
	if pids != nil && len(pids) == 0 {
		return st, nil
	}
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hosts := []int{}
	err := s.Inventory.WalkDetail(ctx, pids, 0, func(p *inventory.Process) error {
		st.Processes++
		if Runtime(p) != "" {
			hosts = append(hosts, p.PID)
		}
		return nil
	})
	if err != nil {
		log.DebugContext(ctx, "module walk stopped", "err", err)
		if ctx.Err() != nil {
			return st, err
		}
	}
	if len(hosts) == 0 {
		return st, nil
	}
	lim := s.Limits.withDefaults()
	budget := lim.QueryBytes
	err = s.Inventory.WalkDetail(ctx, hosts, detail|inventory.DetailFileType, func(p *inventory.Process) error {
		rt := Runtime(p)
		if rt == "" {
			return nil // the pid now names another process
		}
		st.Hosts++
		h := &Host{Process: p, Runtime: rt}
		seen := map[string]bool{}
		for i := range p.Modules {
			m := &p.Modules[i]
			if m.FileType != inventory.FilePE || m.PathTruncated {
				continue
			}
			a, err := s.assemblyOf(p.PID, m)
			if err != nil {
				log.DebugContext(ctx, "assembly unreadable", "pid", p.PID, "path", m.Path, "err", err)
				continue
			}
			if a == nil {
				continue
			}
			gac, ni := Classify(m.Path)
			seen[a.MVID] = true
			if err := fn(h, &Load{Path: m.Path, Assembly: *a, GAC: gac, NativeImage: ni,
				InLoaderList: m.InLoaderList, Base: m.Base, Size: m.Size}); err != nil {
				return err
			}
		}
		if !inMemory || budget <= 0 {
			return nil
		}
		sr := s.search(ctx, log, p.PID, lim, min(lim.ProcessBytes, budget))
		st.Searched++
		st.Regions += sr.regions
		st.BytesRead += sr.read
		budget -= sr.read
		if sr.cut {
			st.Cut++
		}
		for i := range sr.found {
			l := &sr.found[i]
			if seen[l.Assembly.MVID] {
				continue // file-mapped, or a second copy of one already reported
			}
			seen[l.Assembly.MVID] = true
			if err := fn(h, l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.DebugContext(ctx, "host walk stopped", "err", err)
	}
	return st, err
}

// assemblyOf is the identity of the file mapped as m, through the
// file-facts cache.
func (s *Scanner) assemblyOf(pid int, m *inventory.Module) (*pefacts.Assembly, error) {
	fi, err := s.Inventory.StatModule(pid, m)
	if err != nil {
		return nil, err
	}
	return fileinfo.Get(s.Inventory.Files(), inventory.IDOf(fi), assemblyFact, func() (*pefacts.Assembly, int, error) {
		f, err := s.Inventory.OpenModule(pid, m)
		if err != nil {
			return nil, 0, err
		}
		defer f.Close()
		a, err := pefacts.ReadAssembly(f, fi.Size, pefacts.LayoutFile, pefacts.Limits{})
		switch {
		case errors.Is(err, pefacts.ErrLimit):
			return nil, 0, err // may be the deadline of a loaded host: try again next time
		case err != nil:
			return nil, 0, nil // not an assembly, for good
		}
		return a, 64 + len(a.Name) + len(a.Version) + len(a.Culture) + len(a.PublicKeyToken) + len(a.PublicKey) +
			len(a.ModuleName) + len(a.MVID) + len(a.RuntimeVersion), nil
	})
}

// searched is what one process's memory search found and cost.
type searched struct {
	found   []Load
	regions int
	read    int64
	cut     bool
}

// search looks for assemblies in the private and anonymous readable
// regions of pid, reading at most maxBytes and for at most
// lim.ProcessTime. Assemblies need not start at a region boundary: Mono
// keeps Assembly.Load(byte[]) bytes inside its malloc heap.
func (s *Scanner) search(ctx context.Context, log *slog.Logger, pid int, lim Limits, maxBytes int64) (out searched) {
	if s.OnMemory != nil {
		s.OnMemory(pid)
	}
	regions, err := s.Inventory.Regions(ctx, pid)
	switch {
	case errors.Is(err, inventory.ErrViewTruncated):
		// The regions read are searched; memory above the cut is not.
		log.WarnContext(ctx, "memory view cut short: in-memory assemblies above it are not searched", "pid", pid, "err", err)
		out.cut = true
	case err != nil:
		log.DebugContext(ctx, "memory view unreadable", "pid", pid, "err", err)
		return out
	}
	mem, err := s.Inventory.OpenMemory(pid)
	if err != nil {
		log.DebugContext(ctx, "memory unreadable", "pid", pid, "err", err)
		return out
	}
	defer func() { _ = mem.Close() }() // read-only: nothing to flush
	deadline := time.Now().Add(lim.ProcessTime)
	cr := &countingReader{r: mem}
	var bare []Load
	for _, r := range regions {
		if !Searchable(r) {
			continue
		}
		left := maxBytes - cr.n.Load()
		if out.regions >= lim.Regions || left <= 0 || time.Now().After(deadline) || ctx.Err() != nil {
			out.cut = true
			break
		}
		size := int64(r.Size)
		if size > left {
			size, out.cut = left, true
		}
		out.regions++
		found, err := pefacts.ScanReaderAt(io.NewSectionReader(cr, int64(r.Start), size), size,
			pefacts.ScanLimits{Timeout: time.Until(deadline)})
		if err != nil {
			if errors.Is(err, pefacts.ErrLimit) {
				out.cut = true
			}
			log.DebugContext(ctx, "region search stopped", "pid", pid, "start", r.Start, "err", err)
		}
		for _, f := range found {
			l := Load{Assembly: f.Assembly, InMemory: true, Base: r.Start + uint64(f.Offset), Size: uint64(f.Size)}
			if f.HasPE {
				out.found = append(out.found, l)
			} else {
				bare = append(bare, l)
			}
		}
	}
	out.read = cr.n.Load()
	// A PE with its headers says more (its address and size are the
	// image's) than a bare metadata root of the same assembly: the PEs go
	// first, so the dedupe by MVID keeps them.
	out.found = append(out.found, bare...)
	return out
}

// Searchable says whether the memory search reads a region: readable
// memory no file backs, but not the kernel's own pages ([vvar] and
// [vsyscall] fail to read, [vdso] is the kernel's code).
func Searchable(r inventory.Region) bool {
	if r.Prot&inventory.ProtRead == 0 || r.Size == 0 {
		return false
	}
	switch r.Path {
	case "[vvar]", "[vvar_vclock]", "[vsyscall]", "[vdso]":
		return false
	}
	return r.Type == inventory.RegionPrivate || r.Type == inventory.RegionAnonymous
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}
