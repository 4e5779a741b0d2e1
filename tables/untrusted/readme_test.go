package untrusted

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/trust"
)

// TestREADMEPolicyExampleIsValid keeps the documented policy file in step
// with the parser: the README's YAML example must load.
func TestREADMEPolicyExampleIsValid(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(data), "```yaml\n")
	require.True(t, ok, "the README has a yaml example")
	doc, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	p := &trust.Policy{}
	require.NoError(t, p.Apply(trust.Host{}, "README.md", []byte(doc)))
	assert.True(t, p.Trusted("/opt/vendor/lib/libv.so"))
	assert.True(t, p.AllowsProcess("/usr/lib/jvm/java-17/bin/java", "java"))
	assert.Equal(t, []string{"/tmp", "/dev/shm"}, p.NoexecMounts)
	assert.True(t, p.AllowsProcess(`c:\program files\java\jdk-21\bin\java.exe`, ""))
	assert.True(t, p.IsTemp(`D:\Home\a\Tmp\x.dll`))
	assert.Equal(t, []string{"Contoso Ltd"}, p.AllowSigners)
	assert.True(t, p.VerifyTrustedDirs)
}
