// Package imagefacts is what Sysmon's image-load event (Event ID 7) says of
// a loaded module's file, read through the file-facts cache once per file
// identity: the PE version strings (OriginalFileName, Company, Product,
// Description, FileVersion), the imphash and the .NET flag (internal/pefacts,
// bounded in bytes and time, panics recovered, fuzzed there), and on Windows
// the Authenticode verdict (internal/winproc: WinVerifyTrust with catalog
// lookup) in Sysmon's words.
//
// The facts are read from the file the inventory opens for the module
// (inventory.Source.OpenModule) and kept under the identity its StatModule
// gives (Windows: volume serial number and 128-bit file id, size and
// times). A file that changes while it is read is not cached.
package imagefacts

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/modhunt/modhunt/internal/pefacts"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
)

// PE is the version resource, imphash and .NET flag of a module's file.
// Every field is empty for a file that is not a PE, or whose part could not
// be read (a broken version resource leaves the imphash alone).
type PE struct {
	OriginalFileName string
	Company          string
	Product          string
	Description      string
	// FileVersion is the version resource's string, as Sysmon shows it
	// ("10.0.19041.1 (WinBuild.160101.0800)"), not the binary one.
	FileVersion string
	// Imphash is pefile's (and Sysmon's) import hash, lower-case MD5 hex.
	Imphash  string
	IsDotNet bool
	// IsPE: the file is a PE image at all (the other fields may still be
	// empty: a DLL without a version resource).
	IsPE bool
}

// Signature is the Authenticode verdict on a module's file, in the fields
// of Sysmon's image-load event.
type Signature struct {
	// Signed: a signature is present, embedded or through a catalog,
	// valid or not (Sysmon: Signed true with SignatureStatus Expired).
	Signed bool
	// Status is Sysmon's SignatureStatus word: Valid, Expired, Revoked,
	// Unavailable (no signature), or winproc's Untrusted, Invalid,
	// Disallowed.
	Status string
	// Signer is the signer certificate's subject (Sysmon's Signature).
	Signer string
	// Catalog: the verdict comes from a catalog, not the file itself.
	Catalog bool
}

// ErrUnsupported: this OS has no Authenticode verdicts.
var ErrUnsupported = errors.New("imagefacts: no code signatures on this OS")

// Limits bound each PE parse; the zero value is pefacts' defaults (1 GiB
// input, 8 MiB read, 2 s).
var Limits = pefacts.Limits{}

var (
	peFact  = fileinfo.NewFact[PE]("imagefacts.pe")
	sigFact = fileinfo.NewFact[Signature]("imagefacts.signature")
)

// Every file parse and verification this process made, for Reads.
var peReads, sigReads atomic.Uint64

// Reads is how many times a file was parsed for its PE facts and verified
// for its signature since the process started: what the file-facts cache
// did not answer. Every table reads these facts here (process_loaded_modules,
// untrusted_module_loads, module events), so one file identity costs one
// parse and one verification however many of them ask.
func Reads() (pe, signature uint64) { return peReads.Load(), sigReads.Load() }

// ReadPE returns the PE facts of the file mapped as m in process pid.
func ReadPE(src inventory.Source, pid int, m *inventory.Module) (PE, error) {
	return cached(src, pid, m, peFact, func() (PE, int, error) {
		peReads.Add(1)
		f, err := src.OpenModule(pid, m)
		if err != nil {
			return PE{}, 0, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return PE{}, 0, err
		}
		pe, err := parsePE(f, st.Size())
		if err != nil {
			return PE{}, 0, err
		}
		return pe, len(pe.OriginalFileName) + len(pe.Company) + len(pe.Product) + len(pe.Description) +
			len(pe.FileVersion) + len(pe.Imphash) + 16, nil
	})
}

// parsePE reads PE facts from r. A file that is not a PE, or one past the
// parser's input limit, has empty facts, not an error: they are what is
// known of that identity, and are cached as such.
func parsePE(r interface {
	ReadAt([]byte, int64) (int, error)
}, size int64) (PE, error) {
	f, err := pefacts.Parse(r, size, pefacts.LayoutFile, Limits)
	switch {
	case errors.Is(err, pefacts.ErrNotPE), errors.Is(err, pefacts.ErrLimit):
		return PE{}, nil
	case err != nil:
		return PE{}, err
	}
	return PE{
		OriginalFileName: f.Version.OriginalFileName,
		Company:          f.Version.CompanyName,
		Product:          f.Version.ProductName,
		Description:      f.Version.FileDescription,
		FileVersion:      f.Version.FileVersion,
		Imphash:          f.Imphash,
		IsDotNet:         f.IsDotNet,
		IsPE:             true,
	}, nil
}

// ReadSignature returns the Authenticode verdict on the file mapped as m
// (ErrUnsupported off Windows).
func ReadSignature(src inventory.Source, pid int, m *inventory.Module) (Signature, error) {
	return cached(src, pid, m, sigFact, func() (Signature, int, error) {
		sigReads.Add(1)
		s, err := verify(m.Path)
		return s, len(s.Signer) + len(s.Status) + 8, err
	})
}

// cached is fileinfo.Get under the identity StatModule gives the module's
// file, stated again after compute: facts read while the file changed are
// returned with an error, never cached for either version.
func cached[T any](src inventory.Source, pid int, m *inventory.Module, fact fileinfo.Fact[T], compute func() (T, int, error)) (T, error) {
	var zero T
	if m.PathTruncated || !inventory.IsAbs(m.Path) {
		return zero, fmt.Errorf("module %q names no file", m.Path)
	}
	before, err := src.StatModule(pid, m)
	if err != nil {
		return zero, err
	}
	id := inventory.IDOf(before)
	return fileinfo.Get(src.Files(), id, fact, func() (T, int, error) {
		v, n, err := compute()
		if err != nil {
			return zero, 0, err
		}
		after, err := src.StatModule(pid, m)
		if err != nil {
			return zero, 0, err
		}
		if inventory.IDOf(after) != id {
			return zero, 0, fmt.Errorf("%s changed while it was read", m.Path)
		}
		return v, n, nil
	})
}
