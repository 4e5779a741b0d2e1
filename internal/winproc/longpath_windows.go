package winproc

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// LongPath expands the 8.3 short names in path (C:\PROGRA~1\x.dll) with
// GetLongPathNameW, so that IsUnder and SamePath compare the names a
// directory really has. The file must exist.
func LongPath(path string) (string, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return "", err
	}
	for size := uint32(windows.MAX_PATH + 1); ; {
		buf := make([]uint16, size)
		n, err := windows.GetLongPathName(p, &buf[0], size)
		if err != nil {
			return "", fmt.Errorf("GetLongPathNameW(%s): %w", path, err)
		}
		if n < size {
			return windows.UTF16ToString(buf[:n]), nil
		}
		if n > maxPathChars+1 {
			return "", fmt.Errorf("GetLongPathNameW(%s): %d characters", path, n)
		}
		size = n
	}
}
