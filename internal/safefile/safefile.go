// Package safefile reads the small files a root agent takes settings and
// facts from (a flag file, a policy, rule files, dpkg's lists, passwd)
// without letting whoever can write them stall or steer it: the open never
// blocks (a FIFO would wait for a writer), only a regular file is read, the
// check is made on the open file (a name swapped after a stat changes
// nothing), and the read is bounded. The files that decide what a root
// process trusts are read through OpenTrusted/ReadTrusted, which also refuse
// a file someone other than root or the running user may have written
// (CheckTrusted): the flag file, the policy, rule folders and files,
// ld.so.conf and the package databases.
//
// Errors carry no path; callers say which file they were reading.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is returned for a FIFO, device, directory or socket.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading without blocking and returns it only if it is
// a regular file. With noFollow a final symlink is refused too (where the
// OS has O_NOFOLLOW), so a link swapped in cannot lead to a device.
func Open(path string, noFollow bool) (*os.File, fs.FileInfo, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if noFollow {
		flags |= oNoFollow
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, nil, pe.Err
		}
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil, ErrNotRegular
	}
	return f, st, nil
}

// ReadAll reads f to its end, refusing more than limit bytes.
func ReadAll(f *os.File, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// OpenTrusted is Open followed by CheckTrusted on the opened file: for
// the files that decide what a root process trusts.
func OpenTrusted(path string, noFollow bool) (*os.File, fs.FileInfo, error) {
	f, st, err := Open(path, noFollow)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckTrusted(st); err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// ReadTrusted is OpenTrusted and ReadAll.
func ReadTrusted(path string, limit int64, noFollow bool) ([]byte, error) {
	f, _, err := OpenTrusted(path, noFollow)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, limit)
}

// Read is Open and ReadAll.
func Read(path string, limit int64, noFollow bool) ([]byte, error) {
	f, _, err := Open(path, noFollow)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, limit)
}
