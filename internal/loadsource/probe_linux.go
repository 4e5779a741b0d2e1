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
func probe() *UnavailableError {
	if err := checkCaps(); err != nil {
		return err
	}
	if _, err := btf.LoadKernelSpec(); err != nil {
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
