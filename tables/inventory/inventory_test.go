package inventory

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
)

func peHead(lfanew uint32) []byte {
	b := make([]byte, 512)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], lfanew)
	copy(b[lfanew:], "PE\x00\x00")
	return b
}

func TestDetectFileType(t *testing.T) {
	t.Parallel()
	fat := []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2}
	class := []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52}
	badLfanew := peHead(0x80)
	binary.LittleEndian.PutUint32(badLfanew[0x3c:], 0xfffffff0)
	cases := []struct {
		name string
		head []byte
		want FileType
	}{
		{"elf", []byte("\x7fELF\x02\x01\x01"), FileELF},
		{"script", []byte("#!/bin/sh\n"), FileScript},
		{"pe", peHead(0x80), FilePE},
		{"dos stub without PE header", []byte("MZ" + string(make([]byte, 100))), FileData},
		{"MZ with e_lfanew past the head", badLfanew, FileData},
		{"macho 64", []byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}, FileMachO},
		{"macho 32 big endian", []byte{0xfe, 0xed, 0xfa, 0xce, 0, 0, 0, 7}, FileMachO},
		{"fat macho", fat, FileMachO},
		{"java class is not macho", class, FileData},
		{"text", []byte("hello"), FileData},
		{"empty", nil, FileData},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, DetectFileType(c.head), c.name)
	}
}

func TestSplitEnvironAndLookup(t *testing.T) {
	t.Parallel()
	env := splitEnviron([]byte("A=1\x00LD_PRELOAD=/x.so\x00\x00B="), false)
	assert.Equal(t, []string{"A=1", "LD_PRELOAD=/x.so", "B="}, env)
	v, ok := LookupEnv(env, "LD_PRELOAD")
	assert.True(t, ok)
	assert.Equal(t, "/x.so", v)
	v, ok = LookupEnv(env, "B")
	assert.True(t, ok)
	assert.Empty(t, v)
	_, ok = LookupEnv(env, "LD_")
	assert.False(t, ok, "a key prefix is not a key")
	assert.Equal(t, []string{"A=1"}, splitEnviron([]byte("A=1\x00LD_PRE"), true), "a cut entry is dropped")
}

func TestCloneIsDeep(t *testing.T) {
	t.Parallel()
	p := Process{PID: 1, Modules: []Module{{Path: "/a"}}}
	c := p.Clone()
	p.Modules[0].Path = "/b"
	assert.Equal(t, "/a", c.Modules[0].Path)
}
