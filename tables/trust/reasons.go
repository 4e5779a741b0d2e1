// Package trust decides why a loaded module breaks the host's trust policy.
//
// It is pure: callers gather the facts about one loaded module (its path,
// whether it was deleted or lives in a memfd, who may write to it, which
// package owns it, which mount it is on) and Evaluate turns them into
// reasons from a fixed vocabulary and a severity. Nothing here reads /proc,
// so the whole policy is testable with tables of cases.
package trust

import (
	"slices"
	"strings"
)

// Reason is one word of the fixed vocabulary the README documents. The
// vocabulary is closed: queries and packs match these exact strings.
type Reason string

// The vocabulary, as issue 3 names it.
const (
	OutsideTrustedDirs    Reason = "outside_trusted_dirs"
	TempDir               Reason = "temp_dir"
	UserWritable          Reason = "user_writable"
	Hidden                Reason = "hidden"
	Deleted               Reason = "deleted"
	Memfd                 Reason = "memfd"
	Preloaded             Reason = "preloaded"
	NotPackageOwned       Reason = "not_package_owned"
	Remote                Reason = "remote"
	ExecFromWritableMount Reason = "exec_from_writable_mount"
	// PathMismatch: the path the kernel shows does not lead to the mapped
	// file (issue 8), so nothing that rests on the path is believed.
	PathMismatch Reason = "path_mismatch"
	// Unsigned: a Mach-O module without a code signature (LC_CODE_SIGNATURE;
	// macOS only). Whether a signature is valid is osquery's signature
	// table's to say.
	Unsigned Reason = "unsigned"
)

// Vocabulary lists every reason, sorted, for documentation and tests.
var Vocabulary = []Reason{
	Deleted, ExecFromWritableMount, Hidden, Memfd, NotPackageOwned,
	OutsideTrustedDirs, PathMismatch, Preloaded, Remote, TempDir, Unsigned, UserWritable,
}

// Reasons is the set of reasons one module load has. The zero value is the
// empty set: a trusted load.
type Reasons struct{ set []Reason }

// Add puts r in the set once.
func (rs *Reasons) Add(r Reason) {
	if !slices.Contains(rs.set, r) {
		rs.set = append(rs.set, r)
	}
}

// Has reports whether r is in the set.
func (rs Reasons) Has(r Reason) bool { return slices.Contains(rs.set, r) }

// Empty reports whether the load broke no rule.
func (rs Reasons) Empty() bool { return len(rs.set) == 0 }

// List is the set's words, sorted: the reasons column split at its commas.
func (rs Reasons) List() []string {
	if len(rs.set) == 0 {
		return nil
	}
	words := make([]string, len(rs.set))
	for i, r := range rs.set {
		words[i] = string(r)
	}
	slices.Sort(words)
	return words
}

// String is the reasons column: sorted and comma-separated, so that equal
// sets compare equal in SQL and in tests.
func (rs Reasons) String() string {
	words := make([]string, len(rs.set))
	for i, r := range rs.set {
		words[i] = string(r)
	}
	slices.Sort(words)
	return strings.Join(words, ",")
}

// Severity grades a set of reasons. The rule (documented in the README):
//
//   - high: the load is what an attacker does and a legitimate program
//     almost never does — a fileless (memfd) module, a preloaded module
//     outside the trusted directories, a module from a temp directory, a
//     deleted module outside the trusted directories, or a module whose
//     path does not lead to it (path_mismatch: the path is the attacker's
//     to choose, so it can never lower what the file would get where it
//     really is);
//   - medium: anything else outside the trusted directories, or a module
//     that is hidden, user-writable, remote, unsigned or on a mount that
//     should be noexec;
//   - low: only deleted and/or not_package_owned inside the trusted
//     directories (package upgrades and hand-installed libraries), or a
//     preload of a trusted, packaged library.
type Severity string

// Severities, lowest first.
const (
	Low    Severity = "low"
	Medium Severity = "medium"
	High   Severity = "high"
)

// Severity applies the rule above. It returns "" for an empty set.
func (rs Reasons) Severity() Severity {
	if rs.Empty() {
		return ""
	}
	outside := rs.Has(OutsideTrustedDirs)
	switch {
	case rs.Has(Memfd), rs.Has(TempDir), rs.Has(PathMismatch),
		outside && rs.Has(Preloaded), outside && rs.Has(Deleted):
		return High
	case outside, rs.Has(Hidden), rs.Has(UserWritable), rs.Has(Remote), rs.Has(ExecFromWritableMount), rs.Has(Unsigned):
		return Medium
	default:
		return Low
	}
}
