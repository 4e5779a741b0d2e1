package inventory

import (
	"strings"

	"github.com/modhunt/modhunt/internal/winproc"
)

// The Windows inventory's assembly of what internal/winproc reads into the
// OS-neutral types: pure, so it is tested on every OS.

// appendModules makes the modules of a process: every loader list entry,
// then every image mapping the loader list has no module at (unlinked or
// mapped by hand). Executable is read from the regions' protections when
// the memory view has the module's allocation, else assumed (the loader
// maps images with an executable section).
func appendModules(mods []Module, loader []winproc.Module, regions []winproc.Region) []Module {
	exec := map[uint64]bool{}
	for _, r := range regions {
		if r.Type != winproc.MemImage {
			continue
		}
		_, _, x := winproc.Access(r.Protect)
		exec[r.AllocationBase] = exec[r.AllocationBase] || x
	}
	for _, l := range loader {
		x, seen := exec[l.Base]
		mods = append(mods, Module{
			Path: l.Path, Name: moduleName(l.Name, l.Path), Base: l.Base, Size: l.Size,
			PathTruncated: l.PathTruncated, InLoaderList: true, Executable: x || !seen,
		})
	}
	for _, img := range winproc.ImageMappings(regions, loader) {
		if img.InLoaderList {
			continue
		}
		path := img.Path
		if path == "" {
			path = img.NTPath // a device no drive letter links to
		}
		mods = append(mods, Module{
			Path: path, Name: moduleName("", path), Base: img.Base, Size: img.Size,
			InLoaderList: false, Executable: exec[img.Base],
		})
	}
	return mods
}

// moduleName is the loader's name, or the last component of path.
func moduleName(name, path string) string {
	if name != "" {
		return name
	}
	return path[strings.LastIndexAny(path, `\/`)+1:]
}

// regionOf is a winproc region in the OS-neutral shape.
func regionOf(r winproc.Region) Region {
	var prot Protection
	read, write, exec := winproc.Access(r.Protect)
	if read {
		prot |= ProtRead
	}
	if write {
		prot |= ProtWrite
	}
	if exec {
		prot |= ProtExec
	}
	// Offset stays 0: Windows does not say where in the file a view
	// starts (an image region sits at its RVA, not at a file offset).
	out := Region{Start: r.Base, Size: r.Size, Prot: prot, Path: r.Path}
	if out.Path == "" {
		out.Path = r.NTPath
	}
	switch r.Type {
	case winproc.MemImage:
		out.Type = RegionImage
	case winproc.MemMapped:
		out.Type = RegionMapped
		if r.NTPath == "" {
			// A pagefile-backed section: shared memory, no file.
			out.Type = RegionAnonymous
		}
	default:
		out.Type = RegionPrivate
	}
	return out
}

// plainFilePath reports whether a module path may be opened as a file: a
// drive-letter or UNC path (also in \\?\ form), not a device-namespace
// path (\\.\pipe\x, \\.\GLOBALROOT\..., an NT \Device\ path no drive
// letter links to) nor an alternate data stream. A pipe would block a
// read, and no loader maps one.
func plainFilePath(path string) bool {
	if !IsAbs(path) {
		return false
	}
	k := winproc.Classify(path)
	return !k.Device && !k.Stream
}
