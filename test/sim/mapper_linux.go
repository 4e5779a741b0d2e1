package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// mapperSource maps every file in a folder executable (PROT_READ|PROT_EXEC,
// as the loader maps a library's code) and keeps the mappings: a module
// load as the kernel shows it, without the file having to be an ELF
// object, so one process can hold thousands of modules or gigabytes of
// sparse ones.
const mapperSource = `import mmap, os, sys, time
d = sys.argv[1]
maps = []
for name in sorted(os.listdir(d)):
    fd = os.open(os.path.join(d, name), os.O_RDONLY)
    maps.append(mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_EXEC))
    os.close(fd)
print("ready", flush=True)
time.sleep(3600)
`

// StartMapper starts python3 mapping every file in dir executable and
// returns once all are mapped. The folder's files must not be empty.
func StartMapper(tb testing.TB, dir string) *Proc {
	tb.Helper()
	py := NeedPython(tb)
	return Start(tb, py, "-c", mapperSource, dir)
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
