package darwinproc

import (
	"errors"
	"fmt"
	"strings"
)

// MaxProcArgs bounds the KERN_PROCARGS2 buffer ParseProcArgs2 accepts. The
// kernel already caps the area at kern.argmax (1 MiB by default); this is
// the parser's own bound for recorded or hostile input.
const MaxProcArgs = 4 << 20

// ptrSize is the pointer size of every process macOS still runs (no 32-bit
// processes since 10.15); the kernel pads the executable path to it.
const ptrSize = 8

// ProcArgs is the decoded KERN_PROCARGS2 area of a process.
type ProcArgs struct {
	// ExecPath is the path the kernel executed (the "executable_path="
	// prefix is stripped by the kernel itself).
	ExecPath string
	Argv     []string
	// Env holds the strings after argv up to the first empty one. The kernel
	// does not record where envp ends and dyld's "apple" strings begin; when
	// the environment happens to end on an 8-byte boundary there is no
	// padding between them, and apple strings ("ptr_munge=", "executable_
	// file=", ...) follow the environment here. None of them starts with
	// "DYLD_", so DYLDInsertLibraries is unaffected.
	Env []string
	// EnvOmitted is set when the area ends right after argv: the kernel
	// leaves the environment out for a cs_restricted target (setuid,
	// __RESTRICT segment, restricting entitlements) unless SIP is off or the
	// caller holds an entitlement, and for a target with the
	// no-read-procargs entitlement it returns only a synthetic path and
	// argv[0]. An unrestricted process always has apple strings after argv.
	EnvOmitted bool
	// Truncated is set when argc promised more arguments than the area holds
	// or the environment ran to the end of the buffer without a terminator.
	Truncated bool
}

// ErrProcArgs is wrapped by every ParseProcArgs2 error.
var ErrProcArgs = errors.New("kern.procargs2")

// ParseProcArgs2 decodes the KERN_PROCARGS2 layout XNU's sysctl_procargsx
// returns:
//
//	int32 argc | exec_path \0 | pad \0 to 8 bytes | argv[0] \0 ... argv[argc-1] \0 | envp[0] \0 ... | \0 pad | apple strings
//
// argv starts at the executable path's length rounded up to the pointer size
// (exec_extract_strings pads the path area so), which keeps an empty argv[0]
// an argument. Parsers that skip every NUL after the path instead (gopsutil,
// psutil) take argv[1] for argv[0] and the first environment string for an
// argument. When the padding bytes are not all NUL the buffer is not that
// layout, and argv is taken to start right after the path.
func ParseProcArgs2(b []byte) (ProcArgs, error) {
	var pa ProcArgs
	if len(b) > MaxProcArgs {
		return pa, fmt.Errorf("%w: %d bytes, limit %d", ErrProcArgs, len(b), MaxProcArgs)
	}
	if len(b) < 4 {
		return pa, fmt.Errorf("%w: %d bytes, too short for argc", ErrProcArgs, len(b))
	}
	argc := int32(le.Uint32(b))
	if argc < 0 {
		return pa, fmt.Errorf("%w: negative argc %d", ErrProcArgs, argc)
	}
	s := b[4:]
	end := indexNUL(s)
	if end < 0 {
		return pa, fmt.Errorf("%w: executable path not terminated", ErrProcArgs)
	}
	// The kernel strips dyld's "executable_path=" key; a recording taken
	// elsewhere may not. The key is 16 bytes, so the padding is unchanged.
	pa.ExecPath = strings.TrimPrefix(string(s[:end]), "executable_path=")
	i := end + 1
	if aligned := (i + ptrSize - 1) &^ (ptrSize - 1); aligned <= len(s) && allNUL(s[i:aligned]) {
		i = aligned
	} else {
		for i < len(s) && s[i] == 0 {
			i++
		}
	}
	// Each argument takes at least one byte, so argc cannot exceed the rest;
	// bounding the capacity by it keeps a hostile argc from allocating.
	pa.Argv = make([]string, 0, min(int(argc), len(s)-i))
	for n := 0; n < int(argc); n++ {
		if i >= len(s) {
			pa.Truncated = true
			return pa, nil
		}
		e := indexNUL(s[i:])
		if e < 0 {
			pa.Argv = append(pa.Argv, string(s[i:]))
			pa.Truncated = true
			return pa, nil
		}
		pa.Argv = append(pa.Argv, string(s[i:i+e]))
		i += e + 1
	}
	pa.EnvOmitted = i >= len(s)
	for i < len(s) {
		e := indexNUL(s[i:])
		if e < 0 {
			pa.Env = append(pa.Env, string(s[i:]))
			pa.Truncated = true
			break
		}
		if e == 0 {
			break
		}
		pa.Env = append(pa.Env, string(s[i:i+e]))
		i += e + 1
	}
	return pa, nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func allNUL(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// DYLDEnv returns every DYLD_* entry of env in order (DYLD_LIBRARY_PATH,
// DYLD_FRAMEWORK_PATH, DYLD_FALLBACK_*: the hijacking variables beside
// DYLD_INSERT_LIBRARIES). dyld ignores them for restricted and hardened
// processes without the allow-dyld-environment-variables entitlement, so an
// entry says what was asked for, not what was loaded: the mapped modules say
// that.
func DYLDEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "DYLD_") {
			out = append(out, kv)
		}
	}
	return out
}

// DYLDInsertLibraries returns the paths of every DYLD_INSERT_LIBRARIES entry
// in env, in order, split on ':' as dyld splits them, empty elements dropped.
// Every occurrence counts: which one dyld honours when the variable is
// repeated is dyld's business, and a hunter wants to see all of them.
func DYLDInsertLibraries(env []string) []string {
	const key = "DYLD_INSERT_LIBRARIES="
	var out []string
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, key)
		if !ok {
			continue
		}
		for p := range strings.SplitSeq(v, ":") {
			if p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
