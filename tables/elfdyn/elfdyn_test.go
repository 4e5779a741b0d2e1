package elfdyn

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parseFile(t *testing.T, p string) (*Info, []byte) {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	info, err := Parse(bytes.NewReader(data), int64(len(data)), 4096)
	require.NoError(t, err, p)
	return info, data
}

// Every shared object and program of this host reads as debug/elf (which
// uses the section headers ld.so ignores) reads it.
func TestAgreesWithDebugELF(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads this host's libraries")
	}
	var files []string
	for _, g := range []string{"/usr/lib/*/*.so*", "/usr/bin/*"} {
		m, _ := filepath.Glob(g)
		files = append(files, m[:min(len(m), 150)]...) // enough kinds of file, in bounded time
	}
	checked := 0
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		ef, err := elf.Open(p)
		if err != nil {
			continue // not ELF
		}
		wantNeeded, _ := ef.DynString(elf.DT_NEEDED)
		wantSoname, _ := ef.DynString(elf.DT_SONAME)
		wantInterp := ""
		for _, prog := range ef.Progs {
			if prog.Type == elf.PT_INTERP {
				b := make([]byte, prog.Filesz)
				_, _ = prog.ReadAt(b, 0)
				wantInterp = string(bytes.TrimRight(b, "\x00"))
			}
		}
		_ = ef.Close()
		info, _ := parseFile(t, p)
		assert.Equal(t, wantNeeded, info.Needed, p)
		soname := ""
		if len(wantSoname) > 0 {
			soname = wantSoname[0]
		}
		assert.Equal(t, soname, info.Soname, p)
		assert.Equal(t, wantInterp, info.Interp, p)
		checked++
	}
	assert.Greater(t, checked, 50, "too few ELF files on this host to compare")
}

// ld.so never reads section headers: a file without them parses the same.
func TestNoSectionHeaders(t *testing.T) {
	t.Parallel()
	libc, err := filepath.Glob("/usr/lib/*/libc.so.6")
	if err != nil || len(libc) == 0 {
		t.Skip("no libc.so.6 on this host")
	}
	want, data := parseFile(t, libc[0])
	// e_shoff, e_shnum, e_shstrndx of a 64-bit header zeroed.
	stripped := bytes.Clone(data)
	copy(stripped[40:48], make([]byte, 8))
	copy(stripped[60:64], make([]byte, 4))
	got, err := Parse(bytes.NewReader(stripped), int64(len(stripped)), 4096)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, "libc.so.6", got.Soname)
	assert.NotZero(t, got.MapLength)
	assert.NotZero(t, got.MaxAlign)
}

func TestNotELF(t *testing.T) {
	t.Parallel()
	_, err := Parse(bytes.NewReader([]byte("#!/bin/sh\n")), 10, 4096)
	assert.ErrorIs(t, err, ErrNotELF)
	_, err = Parse(bytes.NewReader(nil), 0, 4096)
	assert.ErrorIs(t, err, ErrNotELF)
}

func FuzzParse(f *testing.F) {
	for _, g := range []string{"/usr/lib/x86_64-linux-gnu/libdl.so.2"} {
		if data, err := os.ReadFile(g); err == nil && len(data) < 1<<20 {
			f.Add(data)
		}
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Parse(bytes.NewReader(data), int64(len(data)), 4096)
		if err == nil && info == nil {
			t.Fatal("nil info without an error")
		}
	})
}
