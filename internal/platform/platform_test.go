package platform

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSigmaProductsMapToOSNames(t *testing.T) {
	t.Parallel()
	for product, want := range map[string]string{"linux": Linux, "windows": Windows, "macos": Darwin} {
		got, ok := FromSigmaProduct(product)
		assert.True(t, ok, product)
		assert.Equal(t, want, got, product)
		assert.Equal(t, product, SigmaProduct(got), "the mapping goes both ways")
	}
	for _, product := range []string{"darwin", "osx", "MacOS", "", "aix"} {
		_, ok := FromSigmaProduct(product)
		assert.False(t, ok, "%q is not a Sigma product modhunt evaluates", product)
	}
	assert.Empty(t, SigmaProduct("plan9"))
}

func TestParseTakesTheOSNameOrSigmasProduct(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"linux": Linux, "windows": Windows, "darwin": Darwin, "macos": Darwin} {
		got, ok := Parse(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "osx", "Linux", "beos"} {
		_, ok := Parse(in)
		assert.False(t, ok, in)
	}
	assert.Equal(t, []string{"linux", "windows", "darwin"}, All(), "osquery's and Go's names")
}
