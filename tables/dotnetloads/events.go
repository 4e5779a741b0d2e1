package dotnetloads

import (
	"context"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/internal/platform"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/moduleevents"
)

// Events calls fn with one event per assembly of every CLR host among pids
// (nil: all), the managed loads module_detections matches beside the
// module events: Sysmon Event ID 7's shape with AssemblyName,
// AssemblyVersion, PublicKeyToken, InMemory and Runtime, and ImageLoaded
// the file's path (empty for an assembly only in memory). So the rules can
// key on an assembly's identity: a renamed System.Management.Automation
// is still itself, and one loaded from a byte array has no file name at
// all. The parent fields are left empty (the second walk reads only the
// hosts). The Event is reused after fn returns.
func (s *Scanner) Events(ctx context.Context, pids []int, fn func(*moduleevents.Process, *detections.Event) error) error {
	plat, _ := platform.Parse(s.Inventory.Platform())
	var cur *Host
	var pc *moduleevents.Process
	var ev detections.Event
	_, err := s.Scan(ctx, pids, inventory.DetailStat|inventory.DetailCmdline|inventory.DetailExe, true,
		func(h *Host, l *Load) error {
			if h != cur {
				// A copy: the consumer keeps a process's events (and so its
				// strings) past this callback, the inventory may not.
				cur = h
				p := h.Clone()
				var names []string
				for i := range p.Modules {
					if m := &p.Modules[i]; m.Executable && inventory.IsAbs(m.Path) {
						names = append(names, m.Name)
					}
				}
				pc = &moduleevents.Process{Process: &p, Modules: names}
			}
			p := pc.Process
			a := &l.Assembly
			ev = detections.Event{
				Platform:        plat,
				ProcessId:       int64(p.PID),
				Image:           p.Path,
				ImageLoaded:     l.Path,
				User:            p.User,
				CommandLine:     p.Cmdline,
				ParentProcessId: int64(p.PPID),
				ProcessModules:  pc.Modules,
				InLoaderList:    l.InLoaderList,
				AssemblyName:    a.Name,
				AssemblyVersion: a.Version,
				PublicKeyToken:  a.PublicKeyToken,
				InMemory:        l.InMemory,
				Runtime:         h.Runtime,
			}
			return fn(pc, &ev)
		})
	return err
}
