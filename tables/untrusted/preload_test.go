package untrusted

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPreloadListMatching(t *testing.T) {
	t.Parallel()
	var l preloadList
	l.addPreloadEnv("/tmp/a.so libb.so:/opt/$LIB/libc.so  ")
	l.addAuditEnv("/usr/lib/audit.so:libaudit2.so")
	require.NoError(t, readPreloadFile(strings.NewReader(fileText), int64(len(fileText)), &l))
	cases := map[string]bool{
		"/tmp/a.so":                           true,
		"/tmp/a.so.1":                         false,
		"/usr/lib/x86_64-linux-gnu/libb.so":   true, // bare name: searched by the loader
		"/opt/lib64/libc.so":                  true, // $LIB token
		"/opt/lib64/sub/libc.so":              false,
		"/usr/lib/audit.so":                   true,
		"/anywhere/libaudit2.so":              true,
		"/srv/x.so":                           true, // cleaned
		"/lib/haswell/p.so":                   true,
		"/usr/lib/x86_64-linux-gnu/libc.so.6": false,
	}
	for p, want := range cases {
		assert.Equal(t, want, l.matchName(p, false), p)
	}
}

const fileText = "/tmp/../srv/x.so\t/lib/${PLATFORM}/p.so\n"

func TestLibraryPath(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"/tmp/x", "/opt/lib", "/a/b"}, libraryPath("/tmp/x/::relative;/opt/lib/;/a//b"))
	assert.Empty(t, libraryPath(""))
}
