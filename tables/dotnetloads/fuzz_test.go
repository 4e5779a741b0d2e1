package dotnetloads

import (
	"context"
	"os"
	"testing"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
)

// FuzzSearch puts arbitrary bytes in a Mono host's heap and as its one
// mapped "assembly" file: the scan must neither panic nor stall, and every
// in-memory row must lie inside the heap.
func FuzzSearch(f *testing.F) {
	f.Add([]byte("MZ"), []byte("BSJB\x01\x00\x01\x00\x00\x00\x00\x00\x0c\x00\x00\x00v4.0.30319\x00\x00"))
	f.Add([]byte{}, []byte("PE\x00\x00"))
	if b, err := os.ReadFile("/usr/lib/mono/4.5/Accessibility.dll"); err == nil {
		f.Add(b, append(make([]byte, 17), b...))
	}
	f.Fuzz(func(t *testing.T, file, heap []byte) {
		dir := t.TempDir()
		path := dir + "/a.dll"
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		const pid, base = 0x1000400, 0x560000001000
		mono := inventory.Module{Path: "/usr/bin/mono-sgen", Name: "mono-sgen", FileType: inventory.FileELF}
		asm := inventory.Module{Path: "/tmp/a.dll", Name: "a.dll", FileType: inventory.FilePE, Base: 0x7f0000000000, Size: 0x1000}
		inv := &fakeinv.Inventory{
			OS:      "linux",
			Procs:   []inventory.Process{{PID: pid, Path: "/usr/bin/mono-sgen", UID: 0, Modules: []inventory.Module{mono, asm}}},
			Backing: map[string]string{"/tmp/a.dll": path},
			Private: map[int][]inventory.Region{pid: {{Start: base, Size: uint64(len(heap)), Prot: inventory.ProtRead, Type: inventory.RegionPrivate, Path: "[heap]"}}},
			Memory:  map[int]map[uint64][]byte{pid: {base: heap}},
		}
		s := &Scanner{Inventory: inv}
		_, err := s.Scan(context.Background(), nil, 0, true, func(_ *Host, l *Load) error {
			if l.InMemory && (l.Base < base || l.Base+l.Size > base+uint64(len(heap))) {
				t.Errorf("in-memory assembly at %#x+%#x outside the heap", l.Base, l.Size)
			}
			if l.Assembly.Name == "" {
				t.Errorf("an assembly without a name: %+v", l)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
