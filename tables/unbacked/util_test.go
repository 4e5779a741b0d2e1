package unbacked

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func writeRule(dir, rule string) error {
	return os.WriteFile(filepath.Join(dir, "rule.yml"), []byte(rule), 0o600)
}
