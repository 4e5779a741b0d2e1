// Package machofile gives a mapped module's Mach-O facts (architectures,
// dylib or not, code signature present) as a file fact: parsed by
// internal/machofacts from the very file mapped, once per file identity,
// through the inventory's file-facts cache. process_loaded_modules'
// arch/is_dylib/signed columns and the unsigned trust reason read it.
package machofile

import (
	"errors"
	"fmt"
	"io"

	"github.com/modhunt/modhunt/internal/machofacts"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
)

// Info is what a module's file says; nil Facts means it is not a Mach-O
// file (or one debug/macho cannot read: Err says why).
type Info struct {
	Facts *machofacts.Facts
	Err   error
}

var fact = fileinfo.NewFact[Info]("macho")

// Of returns m's Mach-O facts. A file that is not Mach-O, or whose type the
// walk already knows is something else, is Info{} without a read. An
// unreadable module (gone, replaced, refused) is an error, not cached; a
// malformed one is an Info with Err, cached like any fact.
func Of(src inventory.Source, pid int, m *inventory.Module) (Info, error) {
	if m.FileType != "" && m.FileType != inventory.FileMachO && m.FileType != inventory.FileUnknown {
		return Info{}, nil
	}
	fi, err := src.StatModule(pid, m)
	if err != nil {
		return Info{}, err
	}
	return fileinfo.Get(src.Files(), inventory.IDOf(fi), fact, func() (Info, int, error) {
		f, err := src.OpenModule(pid, m)
		if err != nil {
			return Info{}, 0, err
		}
		defer f.Close()
		info := Parse(f, fi.Size)
		n := 64
		if info.Facts != nil {
			n += 96 * len(info.Facts.Slices)
		}
		return info, n, nil
	})
}

// Parse reads the facts of r (size bytes), checking the magic first.
func Parse(r io.ReaderAt, size int64) Info {
	var head [4]byte
	if n, _ := r.ReadAt(head[:], 0); n < len(head) || !machofacts.Sniff(head[:]) {
		return Info{}
	}
	facts, err := machofacts.Parse(r, size, machofacts.Limits{})
	if errors.Is(err, machofacts.ErrNotMachO) {
		return Info{}
	}
	if err != nil {
		return Info{Err: fmt.Errorf("mach-o: %w", err)}
	}
	return Info{Facts: &facts}
}

// Unsigned reports a Mach-O file with a slice that carries no code
// signature. A file that is not Mach-O, or could not be parsed, is not
// called unsigned: nothing is known of its signature.
func (i Info) Unsigned() bool { return i.Facts != nil && !i.Facts.Signed() }
