package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/internal/textesc"
)

// Names that differ only in how a byte is spelt must print differently, in
// every output mode, and --json must give the exact bytes back through the
// decoder the README documents (JSON, then textesc.Unescape).
func TestOutputEscapeIsReversible(t *testing.T) {
	t.Parallel()
	names := []string{
		"c\xff.so",       // the byte 0xff
		`c\xFF.so`,       // a backslash, then "xFF"
		`c\\xFF.so`,      // two backslashes
		"c\\\xff.so",     // a backslash, then the byte
		`C:\Windows\x.d`, // a backslash before 'x'
		"tab\there\\",    // a control, a final backslash
	}
	var sel []string
	for i, n := range names {
		sel = append(sel, "CAST(x'"+hexOf(n)+"' AS TEXT) AS n"+string(rune('0'+i)))
	}
	sql := "SELECT " + strings.Join(sel, ", ")

	r := runWith(t, fakeTables, runQuery, "", "--json", sql)
	require.Equal(t, 0, r.code, r.stderr)
	var rows []map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows), r.stdout)
	require.Len(t, rows, 1)
	seen := map[string]bool{}
	for i, n := range names {
		v := rows[0]["n"+string(rune('0'+i))]
		assert.False(t, seen[v], "two names print as %q", v)
		seen[v] = true
		assert.Equal(t, n, textesc.Unescape(v), "decoded %q", v)
	}

	r = runWith(t, fakeTables, runQuery, "", sql)
	require.Equal(t, 0, r.code, r.stderr)
	for _, n := range names {
		assert.Equal(t, 1, strings.Count(r.stdout, "| "+textesc.Escape(n, textesc.Controls)+" "), "%q in %s", n, r.stdout)
	}
	assert.Contains(t, r.stdout, `| c\xFF.so `)
	assert.Contains(t, r.stdout, `| c\\xFF.so `)
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, digits[s[i]>>4], digits[s[i]&0xf])
	}
	return string(b)
}
