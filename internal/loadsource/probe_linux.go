package loadsource

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
)

// Capability bits (linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// probe says why this host cannot run the source, before anything is
// loaded: each condition gets its own reason, so the status tells an
// operator what to change.
func probe(kernel *btf.Cache) *UnavailableError {
	if err := checkCaps(); err != nil {
		return err
	}
	if _, err := kernel.Kernel(); err != nil {
		return unavailable(fmt.Sprintf("no kernel BTF to relocate against (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF): %v", err))
	}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		return unavailable(fmt.Sprintf("no BPF ring buffer (Linux 5.8+): %v", err))
	}
	return nil
}

// checkCaps reads the effective capabilities: loading tracing programs
// takes CAP_BPF and CAP_PERFMON (5.8+), or CAP_SYS_ADMIN.
func checkCaps() *UnavailableError {
	eff, err := effectiveCaps("/proc/self/status")
	if err != nil {
		// Not knowing is no reason to give up: the load says if it fails.
		eff = ^uint64(0)
	}
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	if has(capSysAdmin) || (has(capBPF) && has(capPerfmon)) {
		return nil
	}
	return unavailable(fmt.Sprintf("missing capabilities: needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (effective set %#x)", eff))
}

func effectiveCaps(status string) (uint64, error) {
	f, err := os.Open(status)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseCapEff(io.LimitReader(f, 64<<10))
}

func parseCapEff(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("CapEff:")); ok {
			return strconv.ParseUint(strings.TrimSpace(string(v)), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CapEff line")
}

// checkMaWrite says whether this kernel has maple_tree:ma_write with the
// arguments vma_store reads (fn, ma_state, piv, entry) and the fields it
// follows, from the kernel's BTF: the maple tree (6.1+) and its tracepoints
// are internal to the kernel and may change without notice, and a
// mismatch must fall back to the system call tracepoints, never misread.
func checkMaWrite(kernel *btf.Cache) *UnavailableError {
	spec, err := kernel.Kernel()
	if err != nil {
		return unavailable(fmt.Sprintf("no kernel BTF: %v", err))
	}
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_ma_write", &td); err != nil {
		return unavailable("this kernel has no maple_tree:ma_write tracepoint (before Linux 6.1)")
	}
	ptr, ok := td.Type.(*btf.Pointer)
	fp, ok2 := (*btf.FuncProto)(nil), false
	if ok {
		fp, ok2 = btf.UnderlyingType(ptr.Target).(*btf.FuncProto)
	}
	// The first parameter is the tracepoint's own data pointer.
	if !ok2 || len(fp.Params) != 5 || !pointerTo(fp.Params[2].Type, "ma_state") {
		return unavailable("maple_tree:ma_write's arguments are not (fn, ma_state, piv, entry) in this kernel")
	}
	for _, f := range []struct{ typ, field string }{{"ma_state", "tree"}, {"mm_struct", "mm_mt"}, {"vm_area_struct", "vm_file"}} {
		var st *btf.Struct
		if err := spec.TypeByName(f.typ, &st); err != nil || !hasMember(st, f.field) {
			return unavailable(fmt.Sprintf("this kernel's struct %s has no %s", f.typ, f.field))
		}
	}
	return nil
}

func pointerTo(t btf.Type, name string) bool {
	p, ok := btf.UnderlyingType(t).(*btf.Pointer)
	if !ok {
		return false
	}
	st, ok := btf.UnderlyingType(p.Target).(*btf.Struct)
	return ok && st.Name == name
}

// hasMember looks through anonymous members, as CO-RE does.
func hasMember(st *btf.Struct, name string) bool {
	for _, m := range st.Members {
		if m.Name == name {
			return true
		}
		if m.Name == "" {
			switch in := btf.UnderlyingType(m.Type).(type) {
			case *btf.Struct:
				if hasMember(in, name) {
					return true
				}
			case *btf.Union:
				if hasMember((*btf.Struct)(in), name) {
					return true
				}
			}
		}
	}
	return false
}

// loadError turns a load failure into a short reason: a verifier
// rejection keeps its last lines, which name the instruction and the
// reason, not the whole log.
func loadError(what string, err error) string {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Sprintf("the kernel's verifier rejected %s: %v", what, ve)
	}
	if errors.Is(err, os.ErrPermission) {
		return fmt.Sprintf("loading %s was refused (kernel lockdown, an LSM, or missing capabilities): %v", what, err)
	}
	return fmt.Sprintf("loading %s: %v", what, err)
}
