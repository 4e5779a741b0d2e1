package pefacts

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"

	pe "github.com/saferwall/pe"
)

// pefile's limits and heuristics (pefile 2023.2.7, parse_import_directory,
// parse_imports, get_import_table). They are kept exactly, because they
// decide which imports enter the hash: an imphash is only comparable with
// VirusTotal's, Sysmon's and pefile's if the same symbols go in.
const (
	maxImportSymbols = 0x2000
	maxImportNameLen = 0x200
	maxDLLNameLen    = 0x200
	maxRepeatedAddrs = 15
	maxAddressSpread = 128 << 20
	maxImportErrors  = 5
)

var errInvalidEntries = errors.New("import entry with neither name nor ordinal")

// imphash computes the import hash as pefile's get_imphash does: for each
// import descriptor in order, the DLL name lower-cased with a final .dll,
// .ocx or .sys removed; each function name lower-cased, ordinals named
// through pefile's ordinal tables (ws2_32, wsock32, oleaut32) or "ordN";
// "dll.func" joined by commas; MD5, lower-case hex. saferwall's ImpHash is
// not used: it keeps the extension of any DLL name with more than one dot
// (libpython3.11.dll), applies none of pefile's limits, and its import walk
// has no bound on descriptors. Its ordinal tables (a copy of pefile's) are.
func (img *image) imphash() (string, error) {
	s, err := img.importString()
	if err != nil || s == "" {
		return "", err
	}
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:]), nil
}

// importString is the text the imphash is the MD5 of; empty when the file
// imports nothing.
func (img *image) importString() (string, error) {
	dir, ok := img.dir(dirImport)
	if !ok || dir.VirtualAddress == 0 {
		return "", nil
	}
	dlls, err := img.imports(dir.VirtualAddress)
	if err != nil {
		return "", err
	}
	if len(dlls) == 0 {
		return "", nil
	}
	var b strings.Builder
	for _, d := range dlls {
		lib := strings.ToLower(d.name)
		if i := strings.LastIndexByte(lib, '.'); i >= 0 {
			switch lib[i+1:] {
			case "dll", "ocx", "sys":
				lib = lib[:i]
			}
		}
		for _, fn := range d.funcs {
			name := fn.name
			if name == "" {
				name = pe.OrdLookup(d.name, uint64(fn.ordinal), true)
			}
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(lib)
			b.WriteByte('.')
			b.WriteString(strings.ToLower(name))
		}
	}
	return b.String(), nil
}

type importedDLL struct {
	name  string
	funcs []importedFunc
}

type importedFunc struct {
	name    string // empty for an import by ordinal
	ordinal uint16
}

// imports walks the import directory like pefile's parse_import_directory.
func (img *image) imports(rva uint32) ([]importedDLL, error) {
	var out []importedDLL
	total := 0
	errCount := 0
	at := int64(rva)
	for at <= 0xffffffff-20 {
		desc, err := img.at(uint32(at), 20)
		if err != nil {
			// pefile stops here with a warning; what was read stays.
			if errors.Is(err, ErrLimit) {
				return nil, err
			}
			break
		}
		oft, name, ft := le32(desc), le32(desc[12:]), le32(desc[16:])
		if isZero(desc) {
			break
		}
		descOff := img.offsetOf(uint32(at))
		at += 20
		maxLen := img.s.size - descOff
		if at > int64(oft) || at > int64(ft) {
			maxLen = max(at-int64(oft), at-int64(ft))
		}
		funcs, err := img.importFuncs(oft, ft, maxLen, &total)
		if errors.Is(err, ErrLimit) {
			return nil, err
		}
		if errCount > maxImportErrors {
			break
		}
		if len(funcs) == 0 {
			errCount++
			continue
		}
		dll, _, err := img.cstringAt(name, maxDLLNameLen)
		if errors.Is(err, ErrLimit) {
			return nil, err
		}
		dllName := string(dll)
		if !validDOSFilename(dll) {
			dllName = "*invalid*"
		}
		if dllName == "" {
			continue
		}
		for i := range funcs {
			if funcs[i].name == "" {
				// pefile names known ordinals while parsing and keeps the
				// rest nameless for get_imphash, which makes "ordN".
				funcs[i].name = pe.OrdLookup(dllName, uint64(funcs[i].ordinal), false)
			}
		}
		out = append(out, importedDLL{name: dllName, funcs: funcs})
	}
	return out, nil
}

// importFuncs is pefile's parse_imports: the lookup table (ILT), or the
// address table (IAT) when the ILT is empty, turned into named or ordinal
// imports.
func (img *image) importFuncs(oft, ft uint32, maxLen int64, total *int) ([]importedFunc, error) {
	ilt, err := img.thunks(oft, maxLen, total)
	if err != nil {
		return nil, err
	}
	iat, err := img.thunks(ft, maxLen, total)
	if err != nil {
		return nil, err
	}
	table := ilt
	if len(table) == 0 {
		table = iat
	}
	ordFlag, addrMask := uint64(1)<<31, uint64(0x7fffffff)
	if img.is64 {
		ordFlag, addrMask = uint64(1)<<63, uint64(1)<<63-1
	}
	var out []importedFunc
	numInvalid := 0
	for idx, v := range table {
		var fn importedFunc
		haveOrd, haveName := false, false
		if v&ordFlag != 0 {
			fn.ordinal, haveOrd = uint16(v), true
		} else if v&addrMask <= 0xffffffff {
			// The hint must be readable, as in pefile; the name follows it.
			if _, err := img.at(uint32(v&addrMask), 2); err == nil {
				haveName = true
				if v+2 <= 0xffffffff {
					s, _, err := img.cstringAt(uint32(v+2), maxImportNameLen)
					if errors.Is(err, ErrLimit) {
						return nil, err
					}
					fn.name = string(s)
				}
				if !validFunctionName(fn.name) {
					fn.name = "*invalid*"
				}
			} else if errors.Is(err, ErrLimit) {
				return nil, err
			}
		}
		if !haveOrd && !haveName {
			return nil, errInvalidEntries
		}
		if fn.name == "*invalid*" {
			if numInvalid > 1000 && numInvalid == idx {
				return nil, errors.New("too many invalid import names")
			}
			numInvalid++
			continue
		}
		if (haveOrd && fn.ordinal != 0) || fn.name != "" {
			out = append(out, fn)
		}
	}
	return out, nil
}

// thunks is pefile's get_import_table: the thunk values from rva to the
// first zero, within maxLen bytes, with pefile's sanity limits.
func (img *image) thunks(rva uint32, maxLen int64, total *int) ([]uint64, error) {
	size := int64(4)
	ordFlag := uint64(1) << 31
	if img.is64 {
		size, ordFlag = 8, uint64(1)<<63
	}
	var out []uint64
	repeated := 0
	var lo32, hi32, lo64, hi64 uint64
	seen := map[uint64]bool{}
	start := int64(rva)
	for at := start; at != 0; at += size {
		if at >= start+maxLen {
			break
		}
		if *total > maxImportSymbols {
			break
		}
		*total++
		if repeated >= maxRepeatedAddrs {
			return nil, nil
		}
		if hi32-lo32 > maxAddressSpread || hi64-lo64 > maxAddressSpread {
			return nil, nil
		}
		if at+size > 0xffffffff {
			return nil, nil
		}
		b, err := img.at(uint32(at), uint32(size))
		if err != nil {
			if errors.Is(err, ErrLimit) {
				return nil, err
			}
			return nil, nil
		}
		v := uint64(le32(b))
		if size == 8 {
			v = le64(b)
		}
		if v >= uint64(start) && v <= uint64(at) {
			break
		}
		if v != 0 {
			if v&ordFlag != 0 {
				if v&0x7fffffff > 0xffff {
					return nil, nil
				}
			} else {
				if seen[v] {
					repeated++
				}
				seen[v] = true
				if v >= 1<<32 {
					if lo64 == 0 || v < lo64 {
						lo64 = v
					}
					hi64 = max(hi64, v)
				} else {
					if lo32 == 0 || v < lo32 {
						lo32 = v
					}
					hi32 = max(hi32, v)
				}
			}
		}
		if v == 0 {
			break
		}
		out = append(out, v)
	}
	return out, nil
}

// offsetOf is where rva lies in the input, as pefile's
// get_offset_from_rva reports it (used only to size the first thunk walk).
func (img *image) offsetOf(rva uint32) int64 {
	if img.layout == LayoutImage {
		return int64(rva)
	}
	if i := img.find(rva); i >= 0 {
		return int64(img.sections[i].raw) + int64(rva-img.sections[i].va)
	}
	return int64(rva)
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// validDOSFilename is pefile's is_valid_dos_filename.
func validDOSFilename(s []byte) bool {
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'()-@^_`{}~+,.;=[]\\/", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFunctionName is pefile's is_valid_function_name (not relaxed).
func validFunctionName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("._?@$()<>", c) >= 0:
		default:
			return false
		}
	}
	return true
}
