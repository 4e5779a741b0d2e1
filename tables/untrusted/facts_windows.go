package untrusted

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/windows"

	"github.com/modhunt/modhunt/internal/pefacts"
	"github.com/modhunt/modhunt/internal/winproc"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/trust"
)

// The facts the Windows judgement keeps per file identity in the file-facts
// cache, beside the inventory's.
var (
	factOriginalName = fileinfo.NewFact[string]("untrusted.original_file_name")
	factSignature    = fileinfo.NewFact[trust.SignatureFacts]("untrusted.signature")
)

// liveFacts asks this Windows host.
type liveFacts struct {
	src   inventory.Source
	files *fileinfo.Cache
}

func liveWindowsFacts(src inventory.Source, files *fileinfo.Cache) WindowsFacts {
	return &liveFacts{src: src, files: files}
}

func (f *liveFacts) LongPath(p string) (string, error) { return winproc.LongPath(p) }

// DriveRemote asks GetDriveTypeW about the path's drive root.
func (f *liveFacts) DriveRemote(p string) bool {
	if len(p) < 3 || p[1] != ':' || p[2] != '\\' {
		return false
	}
	root, err := windows.UTF16PtrFromString(p[:3])
	if err != nil {
		return false
	}
	return windows.GetDriveType(root) == windows.DRIVE_REMOTE
}

// cached computes a fact of the module's file once per file identity (when
// the inventory can stat the mapped file; else every time).
func cached[T any](f *liveFacts, pid int, m *inventory.Module, fact fileinfo.Fact[T], compute func() (T, int, error)) (T, error) {
	fi, err := f.src.StatModule(pid, m)
	if err != nil || (fi.Dev == 0 && fi.Ino == 0) {
		v, _, err := compute()
		return v, err
	}
	return fileinfo.Get(f.files, inventory.IDOf(fi), fact, compute)
}

// open opens the very file mapped when the inventory can, else the path.
func (f *liveFacts) open(pid int, m *inventory.Module) (*os.File, error) {
	if fh, err := f.src.OpenModule(pid, m); err == nil {
		return fh, nil
	}
	return os.Open(trust.CleanWindowsPath(m.Path))
}

// OriginalFileName parses the version resource with pefacts (bounded in
// bytes and time, panics recovered).
func (f *liveFacts) OriginalFileName(pid int, m *inventory.Module) (string, error) {
	return cached(f, pid, m, factOriginalName, func() (string, int, error) {
		fh, err := f.open(pid, m)
		if err != nil {
			return "", 0, err
		}
		defer func() { _ = fh.Close() }()
		st, err := fh.Stat()
		if err != nil {
			return "", 0, err
		}
		pe, err := pefacts.Parse(fh, st.Size(), pefacts.LayoutFile, pefacts.Limits{})
		if err != nil {
			return "", 0, err
		}
		return pe.Version.OriginalFileName, len(pe.Version.OriginalFileName), nil
	})
}

// Signature is WinVerifyTrust's verdict (embedded, then catalogs).
func (f *liveFacts) Signature(pid int, m *inventory.Module) (trust.SignatureFacts, error) {
	return cached(f, pid, m, factSignature, func() (trust.SignatureFacts, int, error) {
		sig, err := winproc.Verify(trust.CleanWindowsPath(m.Path))
		if err != nil {
			return trust.SignatureFacts{}, 0, err
		}
		return SignatureFactsOf(sig), len(sig.Subject) + 32, nil
	})
}

// ProcessUser reads the process's token.
func (f *liveFacts) ProcessUser(pid int) (string, bool, error) { return processUser(pid) }

// DACL reads the object's owner and DACL.
func (f *liveFacts) DACL(p string) (DACL, error) { return readDACL(p) }

// processUser is the process's user SID, and whether the process runs
// without admin rights (not elevated) as a user that is not a service
// account.
func processUser(pid int) (string, bool, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return "", false, err
	}
	defer func() { _ = windows.CloseHandle(h) }()
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return "", false, err
	}
	defer func() { _ = tok.Close() }()
	u, err := tok.GetTokenUser()
	if err != nil {
		return "", false, err
	}
	sid := u.User.Sid.String()
	switch sid {
	case "S-1-5-18", "S-1-5-19", "S-1-5-20": // SYSTEM, LOCAL SERVICE, NETWORK SERVICE
		return sid, false, nil
	}
	return sid, !tok.IsElevated(), nil
}

// readDACL reads an object's owner and DACL.
func readDACL(p string) (DACL, error) {
	sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return DACL{}, fmt.Errorf("GetNamedSecurityInfoW(%s): %w", p, err)
	}
	var d DACL
	if owner, _, err := sd.Owner(); err == nil && owner != nil {
		d.Owner = owner.String()
	}
	acl, _, err := sd.DACL()
	if errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) || (err == nil && acl == nil) {
		// SE_DACL_PRESENT unset, or a NULL DACL: everyone may do anything.
		d.Null = true
		return d, nil
	}
	if err != nil {
		return DACL{}, fmt.Errorf("DACL of %s: %w", p, err)
	}
	for i := uint32(0); i < uint32(acl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(acl, i, &ace); err != nil {
			return DACL{}, fmt.Errorf("ACE %d of %s: %w", i, p, err)
		}
		var allow bool
		switch ace.Header.AceType {
		case windows.ACCESS_ALLOWED_ACE_TYPE:
			allow = true
		case windows.ACCESS_DENIED_ACE_TYPE:
		default:
			continue // object and callback ACEs: not on files
		}
		sid := (*windows.SID)(unsafePointer(&ace.SidStart))
		d.ACEs = append(d.ACEs, ACE{
			Allow: allow, InheritOnly: ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0,
			Mask: uint32(ace.Mask), SID: sid.String(),
		})
	}
	return d, nil
}
