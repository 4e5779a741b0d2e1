package loadsource

import (
	"strings"
	"testing"

	"github.com/modhunt/modhunt/internal/loadsource/loadtest"
)

// A 32-bit program makes ia32 system calls, with their own numbers and
// registers: its program interpreter, its libc and what it dlopen()s are
// loads like any other and arrive with the exact file. So do a 64-bit
// program's mappings through int $0x80, mmap2 and the old mmap whose one
// argument points to the six: a way around hooks that know only the 64-bit
// calls. The mmap system call tracepoints never see an ia32 call (ftrace
// leaves them out), so this holds for maple_tree:ma_write only.
func TestIA32Loads(t *testing.T) {
	build(t)
	loader32, lib32 := loadtest.Build32(t, t.TempDir())
	interp32 := loadtest.Interpreter(t, loader32)
	for _, w := range mmapWays {
		if w.cfg.noVMA {
			continue
		}
		t.Run(w.name, func(t *testing.T) {
			c := startSource(t, w.cfg, true)
			lib := copyLib(t, t.TempDir(), "libmh_int80.so")
			pid32, out32 := loadtest.Run(t, loader32, nil, "load", lib32)
			id32 := parseReport(t, out32)
			pid64, id64 := run(t, nil, "int80", lib)
			gone(t, pid32)
			gone(t, pid64)
			c.resume()

			ev := c.wait(t, "the 32-bit dlopen", func(e *Event) bool {
				return e.Kind == KindMmap && int(e.PID) == pid32 && string(e.Path) == lib32
			})
			checkFile(t, ev, id32)
			if ev.FD != id32.fd || ev.Prot&protExec == 0 || string(ev.Exe) != loader32 {
				t.Errorf("32-bit dlopen: fd %d prot %#x exe %q", ev.FD, ev.Prot, ev.Exe)
			}
			in := c.wait(t, "the 32-bit program interpreter", func(e *Event) bool {
				return e.Kind == KindMmap && int(e.PID) == pid32 && e.Interpreter
			})
			if string(in.Path) != interp32 || in.FD != -1 {
				t.Errorf("interpreter %q fd %d, want %q mapped by exec", in.Path, in.FD, interp32)
			}
			c.wait(t, "the 32-bit libc", func(e *Event) bool {
				return e.Kind == KindMmap && int(e.PID) == pid32 && strings.Contains(string(e.Path), "/libc.so")
			})

			for _, want := range []struct {
				call string
				addr uint64
			}{{"mmap2", id64.addr}, {"old mmap", id64.addr2}} {
				ev := c.wait(t, "int $0x80 "+want.call, func(e *Event) bool {
					return e.Kind == KindMmap && int(e.PID) == pid64 && e.Addr == want.addr
				})
				checkFile(t, ev, id64)
				if string(ev.Path) != lib || ev.FD != id64.fd || ev.Len != 4096 || ev.Prot&protExec == 0 {
					t.Errorf("int $0x80 %s: path %q fd %d len %d prot %#x", want.call, ev.Path, ev.FD, ev.Len, ev.Prot)
				}
			}
		})
	}
}
