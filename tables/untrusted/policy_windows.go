package untrusted

import (
	"errors"

	"golang.org/x/sys/windows"

	"github.com/modhunt/modhunt/internal/platform"
	"github.com/modhunt/modhunt/tables/trust"
)

// defaultPolicy is the built-in policy for an inventory of platform: for
// this host's processes the Windows defaults over this installation's
// folders (GetSystemWindowsDirectory and the known folders, never the
// environment, which whoever starts modhunt controls); for another OS's
// processes macOS's for a macOS inventory, an empty one (nothing
// trusted) for another OS's.
func defaultPolicy(_ trust.Host, goos string) (*trust.Policy, error) {
	switch goos {
	case platform.Darwin:
		return trust.Darwin(), nil
	case platform.Windows: // this host's own processes, below
	default:
		return &trust.Policy{Source: "built-in"}, nil
	}
	dirs, err := windowsDirs()
	p := trust.Windows(dirs)
	// The %TEMP% of the account modhunt runs as, wherever its profile keeps
	// it (SYSTEM's C:\Windows\SystemTemp; Wine's C:\users\NAME\Temp),
	// besides every profile's AppData\Local\Temp.
	if tmp, terr := tempPath(); terr == nil && trust.IsWindowsPath(tmp) && !p.IsTemp(tmp) {
		p.TempDirs = append(p.TempDirs, trust.CleanWindowsDir(tmp))
	}
	return p, err
}

func tempPath() (string, error) {
	buf := make([]uint16, windows.MAX_PATH+1)
	n, err := windows.GetTempPath(uint32(len(buf)), &buf[0])
	if err != nil {
		return "", err
	}
	if int(n) > len(buf) {
		return "", windows.ERROR_INSUFFICIENT_BUFFER
	}
	return windows.UTF16ToString(buf[:n]), nil
}

// windowsDirs reads the folders the defaults are made of; one that cannot
// be read keeps the stock installation's, and the error says which.
func windowsDirs() (trust.WindowsDirs, error) {
	d := trust.DefaultWindowsDirs
	var errs []error
	if root, err := windows.GetSystemWindowsDirectory(); err == nil {
		d.SystemRoot = root
	} else {
		errs = append(errs, err)
	}
	for _, k := range []struct {
		id  *windows.KNOWNFOLDERID
		dst *string
	}{
		{windows.FOLDERID_ProgramFiles, &d.ProgramFiles},
		{windows.FOLDERID_ProgramFilesX86, &d.ProgramFilesX86},
		{windows.FOLDERID_UserProfiles, &d.UserProfiles},
	} {
		p, err := windows.KnownFolderPath(k.id, windows.KF_FLAG_DEFAULT)
		if err == nil && p != "" {
			*k.dst = p
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	return d, errors.Join(errs...)
}
