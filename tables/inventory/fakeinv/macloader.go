package fakeinv

import (
	"bytes"
	_ "embed" // the recorded region lists
	"syscall"

	"github.com/modhunt/modhunt/internal/darwinproc"
)

//go:embed testdata/darwin_loader_arm64.txt
var loaderRegions []byte

//go:embed testdata/darwin_launchd_arm64.txt
var launchdRegions []byte

// Pids of MacLoader's processes: launchd, the loader, and a process
// proc_pidinfo refuses (as for a SIP-protected one).
const (
	MacLaunchdPID   = 1
	MacLoaderPID    = PID
	MacProtectedPID = PID + 1
)

// MacLoader is a recorded macOS host for the real macOS inventory
// (inventory.NewDarwin): launchd, a loader that dlopen()ed dylibs from
// /private/tmp, a hidden directory, an SMB share and one since deleted
// (testdata/darwin_loader_arm64.txt), started with
// DYLD_INSERT_LIBRARIES=/tmp/evil.dylib, and a process proc_pidinfo refuses
// with EPERM. files maps module paths to host files standing for their bytes
// (their identities replace the recorded ones).
func MacLoader(files map[string]string) (*MacRecording, error) {
	loader, err := ParseRegionList("darwin_loader_arm64.txt", bytes.NewReader(loaderRegions))
	if err != nil {
		return nil, err
	}
	launchd, err := ParseRegionList("darwin_launchd_arm64.txt", bytes.NewReader(launchdRegions))
	if err != nil {
		return nil, err
	}
	r := &MacRecording{
		Procs: map[int32]*MacProc{
			MacLaunchdPID: {
				BSD:     darwinproc.BSDInfo{PID: MacLaunchdPID, UID: 0, Comm: "launchd"},
				Exe:     "/sbin/launchd",
				Args:    darwinproc.ProcArgs{ExecPath: "/sbin/launchd", Argv: []string{"/sbin/launchd"}},
				Regions: launchd,
			},
			MacLoaderPID: {
				BSD: darwinproc.BSDInfo{PID: MacLoaderPID, PPID: MacLaunchdPID, UID: 501, RUID: 501,
					Comm: "loader", Name: "loader"},
				Exe: "/Users/alice/bin/loader",
				Args: darwinproc.ProcArgs{ExecPath: "/Users/alice/bin/loader",
					Argv: []string{"./loader", "/private/tmp/evil.dylib"},
					Env:  []string{"HOME=/Users/alice", "DYLD_INSERT_LIBRARIES=/tmp/evil.dylib", "ptr_munge="}},
				Regions: loader,
			},
			MacProtectedPID: {Err: darwinproc.NewProcError(MacProtectedPID, "proc_pidinfo(PROC_PIDTBSDINFO)", syscall.EPERM)},
		},
		Users:   map[uint32]string{0: "root", 501: "alice"},
		Files:   files,
		FSTypes: map[string]string{"/Volumes/share": "smbfs"},
	}
	for path := range files {
		for pid := range r.Procs {
			if r.Procs[pid].Err == nil {
				if err := r.SetVnode(pid, path); err != nil {
					return nil, err
				}
			}
		}
	}
	return r, nil
}
