package machofacts

import (
	"bytes"
	"debug/macho"
	"os"
	"path/filepath"
	"testing"
)

// samples are the small Mach-O files committed in testdata/samples for the
// tables' tests (process_loaded_modules' columns, the unsigned reason),
// which cannot build them: there is no Mach-O linker on the runners.
// MODHUNT_WRITE_SAMPLES=1 rewrites them from the builder above.
var samples = map[string][]byte{
	"arm64_signed.dylib":    image{cpu: uint32(macho.CpuArm64), filetype: uint32(macho.TypeDylib), installName: "@rpath/libs.dylib", signed: true}.build(),
	"x86_64_unsigned.dylib": image{cpu: uint32(macho.CpuAmd64), sub: 3, filetype: uint32(macho.TypeDylib), installName: "/tmp/libu.dylib"}.build(),
	"fat_half_signed.dylib": fat(
		image{cpu: uint32(macho.CpuAmd64), sub: 3, filetype: uint32(macho.TypeDylib)}.build(),
		image{cpu: uint32(macho.CpuArm64), filetype: uint32(macho.TypeDylib), signed: true}.build()),
	"arm64_signed_exec": image{cpu: uint32(macho.CpuArm64), filetype: uint32(macho.TypeExec), signed: true}.build(),
}

// TestCommittedSamples: the committed samples are what the builder makes,
// and parse to the facts their names claim.
func TestCommittedSamples(t *testing.T) {
	for name, want := range samples {
		p := filepath.Join("testdata", "samples", name)
		if os.Getenv("MODHUNT_WRITE_SAMPLES") == "1" {
			if err := os.WriteFile(p, want, 0o644); err != nil { //nolint:gosec // test fixtures
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s differs from the builder's (MODHUNT_WRITE_SAMPLES=1 rewrites it)", p)
		}
		f, err := Parse(bytes.NewReader(got), int64(len(got)), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		signed := name == "arm64_signed.dylib" || name == "arm64_signed_exec"
		if f.Signed() != signed || f.IsDylib() != (name != "arm64_signed_exec") || f.Fat != (name == "fat_half_signed.dylib") {
			t.Fatalf("%s: signed %v dylib %v fat %v", name, f.Signed(), f.IsDylib(), f.Fat)
		}
	}
}
