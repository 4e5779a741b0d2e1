package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// mapperSource maps every file in a folder executable (PROT_READ|PROT_EXEC,
// as the loader maps a library's code) and keeps the mappings: a module
// load as the kernel shows it, without the file having to be an ELF
// object, so one process can hold thousands of modules or gigabytes of
// sparse ones. It calls mmap through ctypes and closes each file, since
// Python's mmap module keeps a descriptor open per mapping. It dies with
// the test process, even one that crashed before its cleanups ran.
const mapperSource = `import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
PROT_READ, PROT_EXEC, MAP_SHARED, PR_SET_PDEATHSIG, SIGKILL = 1, 4, 1, 1, 9
libc.prctl(PR_SET_PDEATHSIG, SIGKILL)
if os.getppid() != int(sys.argv[2]):
    sys.exit("parent gone")
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    fd = os.open(os.path.join(d, name), os.O_RDONLY)
    addr = libc.mmap(None, os.fstat(fd).st_size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        raise OSError(ctypes.get_errno(), "mmap " + name)
    os.close(fd)
print("ready", flush=True)
time.sleep(3600)
`

// StartMapper starts python3 mapping every file in dir executable and
// returns once all are mapped. The folder's files must not be empty.
func StartMapper(tb testing.TB, dir string) *Proc {
	tb.Helper()
	py := NeedPython(tb)
	return Start(tb, py, "-c", mapperSource, dir, strconv.Itoa(os.Getpid()))
}

// SparseFiles makes n files of size bytes each in dir, named
// prefix00000.so, ...: holes only (ftruncate), so gigabytes of them cost
// no disk and no memory until read. It returns their paths.
func SparseFiles(tb testing.TB, dir, prefix string, n int, size int64) []string {
	tb.Helper()
	paths := make([]string, n)
	for i := range paths {
		p := filepath.Join(dir, fmt.Sprintf("%s%05d.so", prefix, i))
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
		if err == nil {
			err = f.Truncate(size)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			tb.Fatalf("sparse file %s: %v", p, err)
		}
		paths[i] = p
	}
	return paths
}
