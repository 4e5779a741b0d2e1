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

	// Windows and macOS.

	// HiddenFromLoader: mapped as an image but not in the PEB's loader
	// list: a module mapped by hand or unlinked after loading.
	HiddenFromLoader Reason = "hidden_from_loader"
	// Unsigned: no Authenticode signature, embedded or in a catalog (on
	// macOS: a Mach-O file without LC_CODE_SIGNATURE; whether a signature
	// is valid is osquery's signature table's to say).
	Unsigned Reason = "unsigned"
	// UntrustedSignature: a signature that does not verify to a trusted
	// root (SignatureStatus other than Valid: Expired, Revoked, Untrusted,
	// Invalid, Disallowed).
	UntrustedSignature Reason = "untrusted_signature"
	// Renamed: the version resource's OriginalFileName is not the file's
	// name (a copied comsvcs.dll).
	Renamed Reason = "renamed"
)

// Vocabulary lists every reason, sorted, for documentation and tests.
var Vocabulary = []Reason{
	Deleted, ExecFromWritableMount, Hidden, HiddenFromLoader, Memfd, NotPackageOwned,
	OutsideTrustedDirs, PathMismatch, Preloaded, Remote, Renamed, TempDir, Unsigned,
	UntrustedSignature, UserWritable,
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
//     really is); on Windows an image mapped outside the loader's list
//     (hidden_from_loader: manual mapping, unlinking), and a renamed
//     module outside the trusted directories (a copied system DLL);
//   - medium: anything else outside the trusted directories, or a module
//     that is hidden, user-writable, remote or on a mount that should be
//     noexec, renamed, or whose signature does not verify
//     (untrusted_signature);
//   - low: only deleted and/or not_package_owned inside the trusted
//     directories (package upgrades and hand-installed libraries), or a
//     preload of a trusted, packaged library; unsigned alone, which is
//     inside the trusted directories (Windows checks there only when the
//     policy asks, verify_trusted_dirs, and vendors' DLLs under Program
//     Files are often unsigned; on macOS SIP keeps them signed, so it is
//     rare there).
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
	case rs.Has(Memfd), rs.Has(TempDir), rs.Has(PathMismatch), rs.Has(HiddenFromLoader),
		outside && rs.Has(Preloaded), outside && rs.Has(Deleted), outside && rs.Has(Renamed):
		return High
	case outside, rs.Has(Hidden), rs.Has(UserWritable), rs.Has(Remote), rs.Has(ExecFromWritableMount),
		rs.Has(Renamed), rs.Has(UntrustedSignature):
		return Medium
	default:
		return Low
	}
}
