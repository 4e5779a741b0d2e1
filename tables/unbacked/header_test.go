package unbacked

import (
	"encoding/binary"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func firstPage(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b[:min(len(b), DefaultPageBytes)]
}

// TestClassifyRealImages: the test binary's own first page is an ELF
// header, a real native DLL is a PE that is not .NET, a real .NET
// assembly is a PE that is; cutting the bytes short of what each check
// needs turns the answer into none (or drops is_dotnet), never a guess.
func TestClassifyRealImages(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	require.NoError(t, err)
	h, dn := Classify(firstPage(t, exe))
	want := map[string]Header{"linux": HeaderELF, "windows": HeaderPE}[runtime.GOOS]
	if want == "" {
		want = HeaderNone // Mach-O is neither
	}
	assert.Equal(t, want, h, "this test binary")
	assert.False(t, dn)

	native := firstPage(t, "../../internal/pefacts/testdata/imports.dll")
	h, dn = Classify(native)
	assert.Equal(t, HeaderPE, h)
	assert.False(t, dn, "a native DLL has no CLR header")

	asm := firstPage(t, "../../internal/pefacts/testdata/assembly.dll")
	h, dn = Classify(asm)
	assert.Equal(t, HeaderPE, h)
	assert.True(t, dn, "a .NET assembly names its CLR header")

	lfanew := binary.LittleEndian.Uint32(asm[0x3c:])
	h, _ = Classify(asm[:lfanew+8])
	assert.Equal(t, HeaderNone, h, "PE signature without a whole COFF header")
	h, dn = Classify(asm[:lfanew+24+100])
	assert.Equal(t, HeaderPE, h)
	assert.False(t, dn, "the directories are cut off: not known to be .NET")

	bad := append([]byte(nil), asm...)
	bad[lfanew+1] = 'X'
	h, _ = Classify(bad)
	assert.Equal(t, HeaderNone, h, "MZ alone is not a PE")
	binary.LittleEndian.PutUint32(bad[0x3c:], 0xfffffff0)
	h, _ = Classify(bad)
	assert.Equal(t, HeaderNone, h, "e_lfanew past the page")

	elf := []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	h, _ = Classify(elf)
	assert.Equal(t, HeaderELF, h)
	for _, i := range []int{4, 5, 6} {
		e := append([]byte(nil), elf[:16]...)
		e[i] = 9
		h, _ = Classify(e)
		assert.Equal(t, HeaderNone, h, "ELF ident byte %d", i)
	}
	for _, b := range [][]byte{nil, {}, []byte("MZ"), []byte("\x7fELF"), make([]byte, 4096)} {
		h, dn = Classify(b)
		assert.Equal(t, HeaderNone, h)
		assert.False(t, dn)
	}
}

// FuzzClassify: any bytes a process holds are classified without a panic
// or a read outside them, and is_dotnet only ever comes with a PE header.
func FuzzClassify(f *testing.F) {
	exe, err := os.Executable()
	if err == nil {
		f.Add(firstPage(f, exe))
	}
	f.Add(firstPage(f, "../../internal/pefacts/testdata/imports.dll"))
	f.Add(firstPage(f, "../../internal/pefacts/testdata/assembly.dll"))
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, dn := Classify(b)
		switch h {
		case HeaderPE, HeaderELF, HeaderNone:
		default:
			t.Fatalf("header %q", h)
		}
		if dn && h != HeaderPE {
			t.Fatalf("is_dotnet without a PE header")
		}
		if h == HeaderPE && (len(b) < 2 || b[0] != 'M' || b[1] != 'Z') {
			t.Fatalf("pe without MZ")
		}
	})
}
