package untrusted

import (
	"fmt"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/mounts"
)

// maxMountInfo bounds one mountinfo read; a host with many thousands of
// mounts (container hosts) stays well below it.
const maxMountInfo = 4 << 20

func (s *scanner) readMountInfo(pid int) ([]mounts.Mount, error) {
	data, truncated, err := s.readProcFile(pid, "mountinfo", maxMountInfo)
	if err != nil {
		return nil, err
	}
	ms, err := mounts.Parse(data)
	if truncated {
		err = fmt.Errorf("mountinfo of pid %d larger than %d bytes", pid, maxMountInfo)
	}
	return ms, err
}

// procFiles is the procfs inventory's reader of a process's own files
// (mountinfo, auxv, stat, cmdline, maps), which only the Linux judgement
// reads.
type procFiles interface {
	ReadFile(pid int, name string, limit int) (data []byte, truncated bool, err error)
}

// readProcFile reads at most limit bytes of /proc/PID/name through the
// inventory; an inventory that is not procfs has no such file.
func (s *scanner) readProcFile(pid int, name string, limit int) ([]byte, bool, error) {
	pf, ok := s.src.(procFiles)
	if !ok {
		return nil, false, inventory.ErrUnsupported
	}
	return pf.ReadFile(pid, name, limit)
}
