package trust

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJITHostsDefaultsAndPolicy: the documented names are JIT hosts by
// their executable's base name (Windows names without regard to case), a
// program outside the list is not one until a policy file's jit_hosts
// names it by path or by name.
func TestJITHostsDefaultsAndPolicy(t *testing.T) {
	t.Parallel()
	p := &Policy{}
	for _, exe := range []string{"/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "/usr/bin/node", `C:\Program Files\Google\Chrome\Application\CHROME.EXE`,
		"/usr/sbin/php-fpm8.2", "/usr/bin/php8.2", "/usr/bin/qemu-system-x86_64"} {
		assert.True(t, p.IsJITHost(exe), exe)
	}
	for _, exe := range []string{"", "/usr/bin/bash", "/opt/app/bin/engine", "/usr/bin/javac", "/usr/bin/Java", `C:\Windows\System32\rundll32.exe`} {
		assert.False(t, p.IsJITHost(exe), exe)
	}
	require.NoError(t, p.Apply(Host{}, "jit.yaml", []byte("jit_hosts:\n  - path: /opt/app/bin/*\n    comment: our engine\n  - name: Worker*.exe\n")))
	assert.True(t, p.IsJITHost("/opt/app/bin/engine"))
	assert.False(t, p.IsJITHost("/opt/app/lib/engine"), "a path glob stays in its directory")
	assert.True(t, p.IsJITHost(`D:\svc\workerhost.EXE`))
	assert.False(t, p.IsJITHost("/usr/bin/bash"))
}

func TestJITHostsPolicyErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ doc, want string }{
		{"jit_hosts: java\n", "policy p.yaml:1:12: jit_hosts: want a list, got the scalar \"java\""},
		{"jit_hosts:\n  - name: bin/java\n", "policy p.yaml:2:11: jit_hosts[0].name: \"bin/java\": a name is an executable's base name"},
		{"jit_hosts:\n  - name: 'java['\n", "policy p.yaml:2:11: jit_hosts[0].name: \"java[\" is not a valid pattern"},
		{"jit_hosts:\n  - path: bin/java\n", "policy p.yaml:2:11: jit_hosts[0].path: \"bin/java\" is not an absolute path glob"},
		{"jit_hosts:\n  - exe: java\n", "policy p.yaml:2:5: jit_hosts[0].exe: unknown key (known: path, name, comment)"},
		{"jit_hosts:\n  - name: java\n    path: /x\n", "policy p.yaml:3:5: jit_hosts[0].path: an entry takes one matcher, it already has name"},
	}
	for _, c := range cases {
		p := &Policy{}
		err := p.Apply(Host{}, "p.yaml", []byte(c.doc))
		require.Error(t, err, c.doc)
		assert.Contains(t, err.Error(), c.want, c.doc)
		assert.Empty(t, p.JITHosts, "a refused policy adds nothing")
	}
}
