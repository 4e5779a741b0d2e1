package untrusted

import (
	"context"
	"errors"
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
	// ProcessUser is the process's user SID and whether that user holds
	// no admin rights in it (not elevated, not a service account): a grant
	// to such a user is a grant to whoever runs as it.
	ProcessUser(pid int) (sid string, lowPrivilege bool, err error)
	// DACL is the owner and DACL of the file or folder at path.
	DACL(path string) (DACL, error)
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
// DACLs (user_writable) and, for a module already in doubt (or every
// module under verify_trusted_dirs), the version resource (renamed) and the
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
			if w, err := sc.userWritable(p.PID, path); err == nil {
				tm.UserWritable = w
			}
		}
		reasons := sc.policy.Evaluate(tm)
		// The file's own claims cost an open of each module (and the
		// signature a read of the whole file): asked only of a module
		// something else already casts doubt on, unless the policy wants
		// every module verified. A renamed or unsigned DLL inside the
		// trusted folders needs an admin to put it there.
		if facts != nil && (!reasons.Empty() || sc.policy.VerifyTrustedDirs) {
			if ofn, err := facts.OriginalFileName(p.PID, m); err == nil {
				tm.OriginalFileName = ofn
			}
			if sig, err := facts.Signature(p.PID, m); err == nil {
				tm.Signature = sig
			}
			reasons = sc.policy.Evaluate(tm)
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

// userWritable: a DACL grants a low-privileged user write on the file at
// path or create-file on its folder (acl.go): the groups every standard
// user holds, and the process's own user when it runs without admin
// rights. The facts are asked once per process and once per object in a
// scan: a folder's DLLs share its DACL.
func (sc *scan) userWritable(pid int, path string) (bool, error) {
	if sc.winCache == nil {
		sc.winCache = &winCache{sids: map[int][]string{}, dacls: map[string]daclResult{}}
	}
	c := sc.winCache
	sids, ok := c.sids[pid]
	if !ok {
		sids = LowPrivilegeSIDs
		if user, low, err := sc.winFacts.ProcessUser(pid); err == nil && low && user != "" {
			sids = append(append([]string(nil), LowPrivilegeSIDs...), user)
		}
		c.sids[pid] = sids
	}
	var errs []error
	for _, obj := range []string{path, folderOf(path)} {
		if obj == "" {
			continue
		}
		k := strings.ToLower(obj)
		r, ok := c.dacls[k]
		if !ok {
			r.d, r.err = sc.winFacts.DACL(obj)
			c.dacls[k] = r
		}
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		if r.d.GrantsWrite(sids) {
			return true, nil
		}
	}
	return false, errors.Join(errs...)
}

// folderOf is the folder holding a Windows path; "" for a drive's root
// (its DACL is the volume's, not a folder an installer made).
func folderOf(p string) string {
	i := strings.LastIndexByte(p, '\\')
	if i <= 0 || strings.HasSuffix(p[:i], ":") {
		return ""
	}
	return p[:i]
}

// winCache is what a scan of Windows processes asks the facts once.
type winCache struct {
	sids  map[int][]string
	dacls map[string]daclResult
}

type daclResult struct {
	d   DACL
	err error
}
