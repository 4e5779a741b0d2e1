package inventory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/modhunt/modhunt/tables/fileinfo"
)

// openFile opens a module file for reading: a regular file on a disk,
// without keeping others from writing, renaming or deleting it (the
// process that mapped it does not either). A device-namespace path
// (\\.\pipe\x, \\.\GLOBALROOT\...) is refused before it is opened: a pipe
// would block a read, and no loader maps one.
func openFile(path string) (*os.File, error) {
	if !plainFilePath(path) {
		return nil, fmt.Errorf("%s: not a plain file path", path)
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if t, err := windows.GetFileType(h); err != nil || t != windows.FILE_TYPE_DISK {
		_ = windows.CloseHandle(h)
		return nil, fmt.Errorf("%s: not a file on a disk (type %d)", path, t)
	}
	var bi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &bi); err != nil {
		_ = windows.CloseHandle(h)
		return nil, &os.PathError{Op: "GetFileInformationByHandle", Path: path, Err: err}
	}
	if bi.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0 {
		_ = windows.CloseHandle(h)
		return nil, fmt.Errorf("%s: a directory", path)
	}
	return os.NewFile(uintptr(h), path), nil
}

// fileIDInfo is FILE_ID_INFO: the volume serial number and the 128-bit
// file id (ReFS needs all of it; NTFS's fits in the low half).
type fileIDInfo struct {
	VolumeSerialNumber uint64
	FileID             [16]byte
}

// fileBasicInfo is FILE_BASIC_INFO, for ChangeTime, which
// BY_HANDLE_FILE_INFORMATION does not have.
type fileBasicInfo struct {
	CreationTime, LastAccessTime, LastWriteTime, ChangeTime int64
	FileAttributes                                          uint32
	_                                                       uint32
}

// statHandle is FileInfo of an open file, its identity from FILE_ID_INFO
// (Windows 8 / Server 2012 and later), else from BY_HANDLE_FILE_INFORMATION
// (32-bit volume serial, 64-bit file index).
func statHandle(f *os.File) (FileInfo, error) {
	h := windows.Handle(f.Fd())
	var bi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &bi); err != nil {
		return FileInfo{}, &os.PathError{Op: "GetFileInformationByHandle", Path: f.Name(), Err: err}
	}
	fi := FileInfo{
		Size:    int64(bi.FileSizeHigh)<<32 | int64(bi.FileSizeLow),
		ModTime: time.Unix(0, bi.LastWriteTime.Nanoseconds()),
		Nlink:   uint64(bi.NumberOfLinks),
		Dev:     uint64(bi.VolumeSerialNumber),
		Ino:     uint64(bi.FileIndexHigh)<<32 | uint64(bi.FileIndexLow),
		// A regular file, read-only or not: what the Unix-shaped
		// callers read of st_mode.
		Mode: 0o100444,
		UID:  0, GID: 0,
	}
	if bi.FileAttributes&windows.FILE_ATTRIBUTE_READONLY == 0 {
		fi.Mode |= 0o222
	}
	fi.ChangeTime = fi.ModTime
	var basic fileBasicInfo
	if err := windows.GetFileInformationByHandleEx(h, windows.FileBasicInfo, (*byte)(unsafe.Pointer(&basic)), uint32(unsafe.Sizeof(basic))); err == nil {
		// FILETIME: 100 ns since 1601.
		fi.ChangeTime = time.Unix(0, (basic.ChangeTime-116444736000000000)*100)
	}
	var id fileIDInfo
	err := windows.GetFileInformationByHandleEx(h, windows.FileIdInfo, (*byte)(unsafe.Pointer(&id)), uint32(unsafe.Sizeof(id)))
	switch {
	case err == nil:
		fi.Dev = id.VolumeSerialNumber
		fi.Ino = binary.LittleEndian.Uint64(id.FileID[:8])
		fi.InoHi = binary.LittleEndian.Uint64(id.FileID[8:])
	case errors.Is(err, windows.ERROR_INVALID_PARAMETER), errors.Is(err, windows.ERROR_NOT_SUPPORTED),
		errors.Is(err, windows.ERROR_INVALID_FUNCTION), errors.Is(err, windows.ERROR_CALL_NOT_IMPLEMENTED):
		// Before Windows 8, or a file system without 128-bit ids: the
		// BY_HANDLE_FILE_INFORMATION identity stands.
	default:
		return FileInfo{}, &os.PathError{Op: "GetFileInformationByHandleEx(FileIdInfo)", Path: f.Name(), Err: err}
	}
	return fi, nil
}

// fsName is the file system of f's volume.
func fsName(f *os.File) (string, error) {
	buf := make([]uint16, windows.MAX_PATH+1)
	if err := windows.GetVolumeInformationByHandle(windows.Handle(f.Fd()), nil, 0, nil, nil, nil, &buf[0], uint32(len(buf))); err != nil {
		return "", &os.PathError{Op: "GetVolumeInformationByHandleW", Path: f.Name(), Err: err}
	}
	return windows.UTF16ToString(buf), nil
}

// FileKey is the identity of an open file as StatModule gives it (volume
// serial number and 128-bit file id), so a caller that opened a module can
// check it opened the file the inventory identified.
func FileKey(f *os.File) (fileinfo.Key, error) {
	fi, err := statHandle(f)
	if err != nil {
		return fileinfo.Key{}, err
	}
	return IDOf(fi).Key, nil
}
