package darwinproc

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// procargs builds a KERN_PROCARGS2 buffer the way XNU lays it out: argc,
// the executable path padded with NULs to 8 bytes, argv, envp, the NUL
// padding that aligns the argv+envp area, then apple strings.
func procargs(argc int32, exec string, argv, env, apple []string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(argc))
	area := []byte(exec + "\x00")
	for len(area)%8 != 0 {
		area = append(area, 0)
	}
	for _, s := range append(slices.Clone(argv), env...) {
		area = append(area, s...)
		area = append(area, 0)
	}
	for len(area)%8 != 0 {
		area = append(area, 0)
	}
	for _, s := range apple {
		area = append(area, s...)
		area = append(area, 0)
	}
	return append(b, area...)
}

func TestParseProcArgs2(t *testing.T) {
	apple := []string{"ptr_munge=", "main_stack=", "executable_file=0x1a01000013,0x2b2b2", "dyld_file=0x1a01000013,0xfffffff"}
	for _, tc := range []struct {
		name      string
		buf       []byte
		want      ProcArgs
		wantInsrt []string
	}{
		{
			name: "ordinary",
			buf: procargs(2, "/usr/bin/python3", []string{"python3", "-c"},
				[]string{"HOME=/Users/a", "DYLD_INSERT_LIBRARIES=/tmp/a.dylib:/Users/a/.x/b.dylib"}, nil),
			want: ProcArgs{ExecPath: "/usr/bin/python3", Argv: []string{"python3", "-c"},
				Env: []string{"HOME=/Users/a", "DYLD_INSERT_LIBRARIES=/tmp/a.dylib:/Users/a/.x/b.dylib"}},
			wantInsrt: []string{"/tmp/a.dylib", "/Users/a/.x/b.dylib"},
		},
		{
			// The padding after envp separates it from the apple strings.
			name: "apple strings after padding",
			buf:  procargs(1, "/bin/x", []string{"x"}, []string{"A=1"}, apple),
			want: ProcArgs{ExecPath: "/bin/x", Argv: []string{"x"}, Env: []string{"A=1"}},
		},
		{
			// execve(path, {"", "x"}, env): the padding is not argv[0].
			name: "empty argv0",
			buf:  procargs(2, "/bin/sh", []string{"", "x"}, []string{"DYLD_INSERT_LIBRARIES=/tmp/e.dylib"}, nil),
			want: ProcArgs{ExecPath: "/bin/sh", Argv: []string{"", "x"},
				Env: []string{"DYLD_INSERT_LIBRARIES=/tmp/e.dylib"}},
			wantInsrt: []string{"/tmp/e.dylib"},
		},
		{
			// Path plus NUL is exactly 8 bytes: no padding at all.
			name: "aligned path",
			buf:  procargs(1, "/bin/ls", []string{"ls"}, []string{"A=1"}, nil),
			want: ProcArgs{ExecPath: "/bin/ls", Argv: []string{"ls"}, Env: []string{"A=1"}},
		},
		{
			name: "aligned path empty argv0",
			buf:  procargs(1, "/bin/ls", []string{""}, []string{"A=1"}, nil),
			want: ProcArgs{ExecPath: "/bin/ls", Argv: []string{""}, Env: []string{"A=1"}},
		},
		{
			// Empty environment: the apple strings still follow.
			name: "empty environment",
			buf:  procargs(1, "/sbin/launchd", []string{"launchd"}, nil, apple),
			want: ProcArgs{ExecPath: "/sbin/launchd", Argv: []string{"launchd"}, Env: apple},
		},
		{
			// A cs_restricted target: the kernel cuts the area after argv.
			name: "environment omitted by the kernel",
			buf:  procargs(2, "/usr/bin/sudo", []string{"sudo", "-l"}, nil, nil),
			want: ProcArgs{ExecPath: "/usr/bin/sudo", Argv: []string{"sudo", "-l"}, EnvOmitted: true},
		},
		{
			// sysctl_procargs_no_read: argc 1, "path \0 \0 path \0".
			name: "no-read-procargs synthetic reply",
			buf:  append(binary.LittleEndian.AppendUint32(nil, 1), "/usr/libexec/xpcproxy\x00\x00/usr/libexec/xpcproxy\x00"...),
			want: ProcArgs{ExecPath: "/usr/libexec/xpcproxy", Argv: []string{"/usr/libexec/xpcproxy"}, EnvOmitted: true},
		},
		{
			name: "key prefix kept by a recording",
			buf:  procargs(1, "executable_path=/bin/zsh", []string{"-zsh"}, nil, nil),
			want: ProcArgs{ExecPath: "/bin/zsh", Argv: []string{"-zsh"}},
		},
		{
			name: "argc larger than the area",
			buf:  procargs(1000000, "/bin/zsh", []string{"zsh", "-l"}, nil, nil),
			want: ProcArgs{ExecPath: "/bin/zsh", Argv: []string{"zsh", "-l", ""}, Truncated: true},
		},
		{
			name: "unterminated environment",
			buf:  append(procargs(1, "/bin/x", []string{"x"}, nil, nil)[:4+8+2], "DYLD_INSERT_LIBRARIES=/tmp/t.dylib"...),
			want: ProcArgs{ExecPath: "/bin/x", Argv: []string{"x"},
				Env: []string{"DYLD_INSERT_LIBRARIES=/tmp/t.dylib"}, Truncated: true},
			wantInsrt: []string{"/tmp/t.dylib"},
		},
		{
			// Padding that is not NUL: not XNU's layout; argv follows
			// the path directly rather than skipping real bytes.
			name: "unpadded recording",
			buf:  append(binary.LittleEndian.AppendUint32(nil, 2), "/a\x00b\x00c\x00E=1\x00"...),
			want: ProcArgs{ExecPath: "/a", Argv: []string{"b", "c"}, Env: []string{"E=1"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProcArgs2(tc.buf)
			if err != nil {
				t.Fatal(err)
			}
			if got.ExecPath != tc.want.ExecPath || !slices.Equal(got.Argv, tc.want.Argv) ||
				!slices.Equal(got.Env, tc.want.Env) || got.Truncated != tc.want.Truncated || got.EnvOmitted != tc.want.EnvOmitted {
				t.Fatalf("got  %q %q %q truncated %v omitted %v\nwant %q %q %q truncated %v omitted %v",
					got.ExecPath, got.Argv, got.Env, got.Truncated, got.EnvOmitted,
					tc.want.ExecPath, tc.want.Argv, tc.want.Env, tc.want.Truncated, tc.want.EnvOmitted)
			}
			if ins := DYLDInsertLibraries(got.Env); !slices.Equal(ins, tc.wantInsrt) {
				t.Fatalf("DYLD_INSERT_LIBRARIES %q, want %q", ins, tc.wantInsrt)
			}
		})
	}
}

// TestParseProcArgs2AppleStrings: when the environment ends on an 8-byte
// boundary the kernel adds no padding and dyld's apple strings follow it
// directly; they land in Env, but never as DYLD_INSERT_LIBRARIES.
func TestParseProcArgs2AppleStrings(t *testing.T) {
	env := []string{"DYLD_INSERT_LIBRARIES=/tmp/q.dylib"} // 34+1 bytes
	argv := []string{"abcd"}                              // 5 bytes: 40 in all
	got, err := ParseProcArgs2(procargs(1, "/bin/x", argv, env, []string{"ptr_munge=", "dyld_file=0x1,0x2"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Env) < 1 || got.Env[0] != env[0] {
		t.Fatalf("env %q", got.Env)
	}
	if ins := DYLDInsertLibraries(got.Env); !slices.Equal(ins, []string{"/tmp/q.dylib"}) {
		t.Fatalf("DYLD_INSERT_LIBRARIES %q", ins)
	}
}

func TestParseProcArgs2Errors(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":         nil,
		"short":         {1, 0},
		"negative argc": append(binary.LittleEndian.AppendUint32(nil, 0x80000000), "/x\x00"...),
		"no path NUL":   append(binary.LittleEndian.AppendUint32(nil, 1), "/x"...),
		"too large":     make([]byte, MaxProcArgs+1),
	} {
		if _, err := ParseProcArgs2(b); !errors.Is(err, ErrProcArgs) {
			t.Errorf("%s: %v, want ErrProcArgs", name, err)
		}
	}
}

func TestDYLDInsertLibraries(t *testing.T) {
	env := []string{
		"XDYLD_INSERT_LIBRARIES=/nope",
		"DYLD_INSERT_LIBRARIES=",
		"DYLD_INSERT_LIBRARIES=/a.dylib::/b.dylib:",
		"dyld_insert_libraries=/lower",
		"DYLD_INSERT_LIBRARIES=@executable_path/c.dylib",
	}
	want := []string{"/a.dylib", "/b.dylib", "@executable_path/c.dylib"}
	if got := DYLDInsertLibraries(env); !slices.Equal(got, want) {
		t.Fatalf("%q, want %q", got, want)
	}
	all := DYLDEnv(append(env, "DYLD_LIBRARY_PATH=/tmp/l", "HOME=/x"))
	if len(all) != 4 || all[3] != "DYLD_LIBRARY_PATH=/tmp/l" {
		t.Fatalf("DYLDEnv %q", all)
	}
}

func FuzzParseProcArgs2(f *testing.F) {
	f.Add(procargs(2, "/usr/bin/python3", []string{"python3", "-c"}, []string{"DYLD_INSERT_LIBRARIES=/tmp/a.dylib"}, []string{"ptr_munge="}))
	f.Add(procargs(2, "/bin/sh", []string{"", "x"}, nil, nil))
	f.Add(procargs(1<<30, "/bin/ls", nil, nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		pa, err := ParseProcArgs2(b)
		if err != nil {
			return
		}
		argc := int(int32(binary.LittleEndian.Uint32(b)))
		if len(pa.Argv) > argc {
			t.Fatalf("%d arguments for argc %d", len(pa.Argv), argc)
		}
		total := len(pa.ExecPath)
		for _, s := range append(pa.Argv, pa.Env...) {
			total += len(s)
			if strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("NUL inside %q", s)
			}
		}
		if total > len(b) {
			t.Fatalf("%d bytes of strings from %d bytes", total, len(b))
		}
		for _, p := range DYLDInsertLibraries(pa.Env) {
			if p == "" || strings.Contains(p, ":") {
				t.Fatalf("bad insert path %q", p)
			}
		}
	})
}
