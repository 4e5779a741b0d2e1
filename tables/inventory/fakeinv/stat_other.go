//go:build !unix

package fakeinv

import "os"

func devIno(os.FileInfo) (dev, ino uint64) { return 0, 0 }
