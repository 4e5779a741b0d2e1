package untrusted

import (
	"context"
	"strings"

	"github.com/modhunt/modhunt/internal/platform"
	"github.com/modhunt/modhunt/internal/winproc"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/trust"
)

// WindowsFacts is what the Windows judgement learns about a module beyond
// what the inventory says: facts that need the module's file or its
// process's token. The live one (facts_windows.go) asks Windows; tests on
// any OS give fakes, so the judgement itself (processWindows) is tested
// everywhere. A method that cannot tell returns an error and the judgement
// goes on without that fact (no reason is claimed from it).
type WindowsFacts interface {
	// LongPath expands the 8.3 short names (PROGRA~1) of a module's path.
	LongPath(path string) (string, error)
	// DriveRemote: the path's drive is a network drive (GetDriveType
	// DRIVE_REMOTE): a mapped share whose path shows only a letter.
	DriveRemote(path string) bool
	// OriginalFileName is the module's version resource claim ("" when it
	// has none).
	OriginalFileName(pid int, m *inventory.Module) (string, error)
	// Signature is the module file's Authenticode verdict in Sysmon's
	// words, with Checked set.
	Signature(pid int, m *inventory.Module) (trust.SignatureFacts, error)
	// UserWritable: a DACL grants a low-privileged user write on the file
	// at path or on its folder (see acl.go).
	UserWritable(pid int, path string) (bool, error)
}

// isWindows says whether an inventory's processes are Windows processes.
func isWindows(goos string) bool { return goos == platform.Windows }

// windowsPath is a module's path in the one spelling the Windows policy
// compares: prefixes and redirector devices gone, 8.3 names expanded when
// the facts can (a name that cannot be expanded is compared as it is, so
// C:\PROGRA~1\x.dll is then outside the trusted dirs, never inside).
func windowsPath(facts WindowsFacts, p string) string {
	clean := trust.CleanWindowsPath(p)
	if facts != nil && winproc.Classify(clean).ShortName {
		if long, err := facts.LongPath(clean); err == nil && long != "" {
			return trust.CleanWindowsPath(long)
		}
	}
	return clean
}

// processWindows judges a Windows process from its inventory and the
// Windows facts: the path rules under the Windows policy, the loader list
// (hidden_from_loader), the spelling and drive of the path (remote), the
// DACLs (user_writable), the version resource (renamed) and, for a module
// already in doubt (or every module under verify_trusted_dirs), the
// signature (unsigned, untrusted_signature; allow_signers vouches for a
// Valid one).
func (sc *scan) processWindows(ctx context.Context, proc int) {
	p := &sc.res.Processes[proc]
	if sc.policy.AllowsProcess(windowsPath(sc.winFacts, p.Path), p.Name) {
		return
	}
	facts := sc.winFacts
	for i := range p.Modules {
		m := &p.Modules[i]
		if ctx.Err() != nil {
			return // the walk reports it
		}
		if !Judged(p, m) {
			continue
		}
		path := windowsPath(facts, m.Path)
		kind := winproc.Classify(m.Path)
		tm := trust.Module{
			Path:            path,
			Deleted:         m.Deleted,
			NotInLoaderList: !m.InLoaderList,
			Remote:          kind.Remote || kind.WebDAV || winproc.Classify(path).Remote,
		}
		if facts != nil {
			tm.Remote = tm.Remote || facts.DriveRemote(path)
			if ofn, err := facts.OriginalFileName(p.PID, m); err == nil {
				tm.OriginalFileName = ofn
			}
			if w, err := sc.userWritable(p.PID, path); err == nil {
				tm.UserWritable = w
			}
		}
		reasons := sc.policy.Evaluate(tm)
		// The signature costs a read of the whole file: asked only of a
		// module something else already casts doubt on, unless the policy
		// wants every module verified.
		if facts != nil && (!reasons.Empty() || sc.policy.VerifyTrustedDirs) {
			if sig, err := facts.Signature(p.PID, m); err == nil {
				tm.Signature = sig
				reasons = sc.policy.Evaluate(tm)
			}
		}
		if reasons.Empty() || sc.policy.AllowsModule(path, "", "") {
			continue
		}
		if sc.policy.AllowsSigner(tm.Signature) && !reasons.Has(trust.HiddenFromLoader) {
			continue
		}
		fi, err := sc.src.StatModule(p.PID, m)
		sc.add(proc, i, reasons, fi, err == nil, "", "")
	}
}

// userWritable asks the facts once per (process, path) of a scan: a
// folder's DLLs share its answer within a process, and processes of other
// users may get other answers.
func (sc *scan) userWritable(pid int, path string) (bool, error) {
	type key struct {
		pid  int
		path string
	}
	if sc.writable == nil {
		sc.writable = map[any]writableResult{}
	}
	k := key{pid, strings.ToLower(path)}
	if r, ok := sc.writable[k]; ok {
		return r.w, r.err
	}
	w, err := sc.winFacts.UserWritable(pid, path)
	sc.writable[k] = writableResult{w, err}
	return w, err
}

type writableResult struct {
	w   bool
	err error
}
