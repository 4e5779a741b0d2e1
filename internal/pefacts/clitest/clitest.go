// Package clitest builds the .NET assemblies tests read: C# compiled by
// Mono's mcs, strong-named with a key no one has seen before. It is test
// support for pefacts and the tables that read assemblies, and is never
// linked into the extension.
package clitest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// CompileCS writes src next to dir/out and compiles it there with the mcs
// at path mcs; args are extra mcs flags (-target:library unless they name
// a target). It returns the assembly's path.
func CompileCS(mcs, dir, out, src string, args ...string) (string, error) {
	name := strings.TrimSuffix(out, filepath.Ext(out)) + ".cs"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		return "", err
	}
	a := append([]string{"-nologo", "-out:" + out}, args...)
	if !strings.Contains(strings.Join(args, " "), "-target:") {
		a = append(a, "-target:library")
	}
	cmd := exec.Command(mcs, append(a, name)...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("mcs %s: %w\n%s", strings.Join(a, " "), err, b)
	}
	return filepath.Join(dir, out), nil
}

// StrongNameKey writes a fresh RSA key as a CAPI PRIVATEKEYBLOB (the .snk
// format sn -k writes), for mcs -keyfile, and returns the public key blob
// the signed assembly will carry (PublicKeyBlob: SigAlgID, HashAlgID,
// length, PUBLICKEYBLOB).
func StrongNameKey(path string) ([]byte, error) {
	const bits = 1024
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, err
	}
	le := func(n *big.Int, size int) []byte {
		b := n.FillBytes(make([]byte, size))
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		return b
	}
	p, q := key.Primes[0], key.Primes[1]
	one := big.NewInt(1)
	var snk bytes.Buffer
	snk.Write([]byte{0x07, 0x02, 0, 0})
	_ = binary.Write(&snk, binary.LittleEndian, []uint32{0x2400, 0x32415352, bits, uint32(key.E)})
	snk.Write(le(key.N, bits/8))
	snk.Write(le(p, bits/16))
	snk.Write(le(q, bits/16))
	snk.Write(le(new(big.Int).Mod(key.D, new(big.Int).Sub(p, one)), bits/16))
	snk.Write(le(new(big.Int).Mod(key.D, new(big.Int).Sub(q, one)), bits/16))
	snk.Write(le(new(big.Int).ModInverse(q, p), bits/16))
	snk.Write(le(key.D, bits/8))
	if err := os.WriteFile(path, snk.Bytes(), 0o600); err != nil {
		return nil, err
	}
	var pub bytes.Buffer
	_ = binary.Write(&pub, binary.LittleEndian, []uint32{0x2400, 0x8004, 20 + bits/8})
	pub.Write([]byte{0x06, 0x02, 0, 0})
	_ = binary.Write(&pub, binary.LittleEndian, []uint32{0x2400, 0x31415352, bits, uint32(key.E)})
	pub.Write(le(key.N, bits/8))
	return pub.Bytes(), nil
}

// Main is a TestMain for a package whose tests compile their assemblies
// and tools once per run: it makes the shared directory (named with prefix)
// and sets *dir to it, runs the tests, removes it, and fails a run that
// left a goroutine behind. It returns the exit code.
func Main(m *testing.M, prefix string, dir *string) int {
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	*dir = d
	code := m.Run()
	_ = os.RemoveAll(d)
	if err := goleak.Find(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, "goroutine leak:", err)
		code = 1
	}
	return code
}
