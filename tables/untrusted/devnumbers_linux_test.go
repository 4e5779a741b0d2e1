package untrusted

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDevNumbers(t *testing.T) {
	t.Parallel()
	// makedev(259, 1048577) as glibc encodes it.
	dev := uint64(259&0xfff)<<8 | uint64(259&^0xfff)<<32 | uint64(1048577&0xff) | uint64(1048577&^0xff)<<12
	assert.Equal(t, uint32(259), devMajor(dev))
	assert.Equal(t, uint32(1048577), devMinor(dev))
	assert.Equal(t, uint32(254), devMajor(0xfe00))
	assert.Equal(t, uint32(0), devMinor(0xfe00))
}
