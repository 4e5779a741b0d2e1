package trust

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/modhunt/modhunt/internal/safefile"
)

// maxPolicyBytes bounds a policy file: it is a hand-written list.
const maxPolicyBytes = 1 << 20

// PolicyError is a malformed policy file: it names the file, the line and
// column, and the field, so an admin can fix it without guessing.
type PolicyError struct {
	File         string
	Line, Column int
	Field        string
	Msg          string
}

func (e *PolicyError) Error() string {
	at := fmt.Sprintf("%s:%d", e.File, e.Line)
	if e.Column > 0 {
		at += fmt.Sprintf(":%d", e.Column)
	}
	if e.Field == "" {
		return fmt.Sprintf("policy %s: %s", at, e.Msg)
	}
	return fmt.Sprintf("policy %s: %s: %s", at, e.Field, e.Msg)
}

// LoadFile reads a policy file and applies it to p (normally the built-in
// defaults). Any problem is an error and p is left untouched: a policy that
// cannot be read is never replaced by a silently empty one.
//
// The format (every key optional, unknown keys refused):
//
//	trusted_dirs: [/opt/vendor/lib]          # absolute directories
//	noexec_mounts: [/tmp, /dev/shm]          # mount points that should be noexec
//	allow_modules:                           # one matcher per entry
//	  - path: /opt/app/**/*.so               # glob: * ? [..] within a component, ** across
//	    comment: vendor plugins
//	  - sha256: 0123…                        # 64 hex digits
//	  - package: google-chrome-stable        # owning dpkg/rpm package
//	allow_processes:
//	  - path: /usr/lib/jvm/*/bin/java
//	  - name: falcon-sensor                  # process name, exact
//	untrusted_dirs: ['C:\Windows\Debug']     # exceptions to the trusted dirs
//	temp_dirs: ['D:\Scratch']                # more temp dirs ("*" = one component)
//	allow_signers: [Contoso Ltd]            # Valid signatures of these subjects
//	verify_trusted_dirs: true               # check signatures in trusted dirs too
//	jit_hosts:                               # adds to DefaultJITHosts (see jit.go)
//	  - path: /opt/app/bin/engine            # executable path glob
//	  - name: myjit*                         # executable base name or pattern
//
// Directories and path globs are POSIX (/x) or Windows (C:\x, \\host\share)
// paths; Windows ones compare without regard to case.
func (p *Policy) LoadFile(host Host, file string) error {
	data, err := readPolicy(file)
	if err != nil {
		return err
	}
	return p.Apply(host, file, data)
}

func readPolicy(file string) ([]byte, error) {
	// Opened by its own name, not through os.DirFS(path.Dir(file)): on
	// Windows path.Dir does not split C:\dir\policy.yaml and DirFS refuses
	// the whole name, so no policy could ever load there.
	// The policy decides what a root process trusts: a file someone else
	// could have written is refused like the flag file that names it.
	data, err := safefile.ReadTrusted(file, maxPolicyBytes, false)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", file, err)
	}
	return data, nil
}

// Apply parses a policy document (named file in errors) and adds it to p.
func (p *Policy) Apply(host Host, file string, data []byte) error {
	f, err := parsePolicy(file, data)
	if err != nil {
		return err
	}
	for _, d := range f.TrustedDirs {
		p.addTrusted(host, d, false)
	}
	p.UntrustedDirs = append(p.UntrustedDirs, f.UntrustedDirs...)
	p.TempDirs = append(p.TempDirs, f.TempDirs...)
	p.AllowSigners = append(p.AllowSigners, f.AllowSigners...)
	p.VerifyTrustedDirs = p.VerifyTrustedDirs || f.VerifyTrustedDirs
	p.NoexecMounts = append(p.NoexecMounts, f.NoexecMounts...)
	p.AllowModules = append(p.AllowModules, f.AllowModules...)
	p.AllowProcesses = append(p.AllowProcesses, f.AllowProcesses...)
	p.JITHosts = append(p.JITHosts, f.JITHosts...)
	if p.Source == "" || p.Source == "built-in" {
		p.Source = "built-in + " + file
	} else {
		p.Source += " + " + file
	}
	return nil
}

type parsed struct {
	TrustedDirs       []string
	UntrustedDirs     []string
	TempDirs          []string
	AllowSigners      []string
	VerifyTrustedDirs bool
	NoexecMounts      []string
	AllowModules      []ModuleRule
	AllowProcesses    []ProcessRule
	JITHosts          []JITHost
}

type parser struct{ file string }

func (ps parser) errAt(n *yaml.Node, field, format string, args ...any) error {
	return &PolicyError{File: ps.file, Line: n.Line, Column: n.Column, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func parsePolicy(file string, data []byte) (*parsed, error) {
	ps := parser{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, ps.syntaxErr(err)
	}
	out := &parsed{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return out, nil // empty file or only comments: nothing to add
	}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return out, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, ps.errAt(root, "", "the policy must be a mapping of keys (%s), got %s", knownKeys, kindName(root))
	}
	err := ps.mapping(root, "", func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "trusted_dirs":
			out.TrustedDirs, err = ps.dirList(v, key)
		case "noexec_mounts":
			out.NoexecMounts, err = ps.dirList(v, key)
		case "untrusted_dirs":
			out.UntrustedDirs, err = ps.dirList(v, key)
		case "temp_dirs":
			out.TempDirs, err = ps.tempList(v, key)
		case "allow_signers":
			err = ps.list(v, key, func(field string, n *yaml.Node) error {
				s, err := ps.str(n, field)
				out.AllowSigners = append(out.AllowSigners, strings.TrimSpace(s))
				return err
			})
		case "verify_trusted_dirs":
			out.VerifyTrustedDirs, err = ps.boolean(v, key)
		case "allow_modules":
			err = ps.list(v, key, func(field string, n *yaml.Node) error {
				r, err := ps.moduleRule(n, field)
				out.AllowModules = append(out.AllowModules, r)
				return err
			})
		case "allow_processes":
			err = ps.list(v, key, func(field string, n *yaml.Node) error {
				r, err := ps.processRule(n, field)
				out.AllowProcesses = append(out.AllowProcesses, r)
				return err
			})
		case "jit_hosts":
			err = ps.list(v, key, func(field string, n *yaml.Node) error {
				r, err := ps.jitHost(n, field)
				out.JITHosts = append(out.JITHosts, r)
				return err
			})
		default:
			err = ps.errAt(k, key, "unknown key (known: %s)", knownKeys)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// knownKeys are the policy file's top-level keys, for error messages.
const knownKeys = "trusted_dirs, noexec_mounts, allow_modules, allow_processes, untrusted_dirs, temp_dirs, allow_signers, verify_trusted_dirs, jit_hosts"

// syntaxErr keeps yaml.v3's own line number ("yaml: line 3: ...") and adds
// the file name.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (ps parser) syntaxErr(err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &PolicyError{File: ps.file, Line: line, Msg: "syntax: " + m[2]}
	}
	return fmt.Errorf("policy %s: syntax: %s", ps.file, strings.TrimPrefix(err.Error(), "yaml: "))
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", n.Value)
	default:
		return "something else"
	}
}

// mapping walks a mapping node, refusing duplicate and non-string keys.
func (ps parser) mapping(n *yaml.Node, field string, each func(key string, k, v *yaml.Node) error) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		name := k.Value
		if field != "" {
			name = field + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			return ps.errAt(k, field, "keys must be plain words")
		}
		if seen[k.Value] {
			return ps.errAt(k, name, "key given twice")
		}
		seen[k.Value] = true
		if err := each(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (ps parser) list(n *yaml.Node, field string, each func(field string, n *yaml.Node) error) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return ps.errAt(n, field, "want a list, got %s", kindName(n))
	}
	for i, item := range n.Content {
		if err := each(fmt.Sprintf("%s[%d]", field, i), deref(item)); err != nil {
			return err
		}
	}
	return nil
}

func (ps parser) str(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!bool") {
		return "", ps.errAt(n, field, "want a string, got %s", kindName(n))
	}
	if strings.TrimSpace(n.Value) == "" {
		return "", ps.errAt(n, field, "empty value")
	}
	return n.Value, nil
}

func (ps parser) absPath(n *yaml.Node, field string) (string, error) {
	s, err := ps.str(n, field)
	if err != nil {
		return "", err
	}
	if !path.IsAbs(s) && !IsWindowsPath(s) {
		return "", ps.errAt(n, field, "%q is not an absolute path", s)
	}
	return s, nil
}

func (ps parser) boolean(n *yaml.Node, field string) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, ps.errAt(n, field, "want true or false, got %s", kindName(n))
	}
	return strconv.ParseBool(n.Value)
}

// cleanDir is a directory in the spelling the policy compares.
func cleanDir(d string) string {
	if IsWindowsPath(d) {
		return CleanWindowsDir(d)
	}
	return path.Clean(d)
}

// tempList is dirList allowing "*" as a whole component of a Windows
// directory (any profile's folder).
func (ps parser) tempList(n *yaml.Node, field string) ([]string, error) {
	var dirs []string
	err := ps.list(n, field, func(f string, item *yaml.Node) error {
		d, err := ps.absPath(item, f)
		if err != nil {
			return err
		}
		if IsWindowsPath(d) {
			for c := range strings.SplitSeq(strings.ReplaceAll(d, "/", `\`), `\`) {
				if c != "*" && strings.ContainsAny(c, "*?[") {
					return ps.errAt(item, f, "%q: only a whole component may be \"*\"", d)
				}
			}
		} else if strings.ContainsAny(d, "*?[") {
			return ps.errAt(item, f, "%q: directories are literal paths, not globs", d)
		}
		dirs = append(dirs, cleanDir(d))
		return nil
	})
	return dirs, err
}

func (ps parser) dirList(n *yaml.Node, field string) ([]string, error) {
	var dirs []string
	err := ps.list(n, field, func(f string, item *yaml.Node) error {
		d, err := ps.absPath(item, f)
		if err != nil {
			return err
		}
		if strings.ContainsAny(d, "*?[") {
			return ps.errAt(item, f, "%q: directories are literal paths, not globs", d)
		}
		dirs = append(dirs, cleanDir(d))
		return nil
	})
	return dirs, err
}

// rule reads an allow entry: a mapping with exactly one of the matchers
// and an optional comment.
func (ps parser) rule(n *yaml.Node, field string, matchers []string) (key, value, comment string, err error) {
	if n.Kind != yaml.MappingNode {
		return "", "", "", ps.errAt(n, field, "want a mapping with one of %s, got %s", strings.Join(matchers, ", "), kindName(n))
	}
	err = ps.mapping(n, field, func(k string, kn, v *yaml.Node) error {
		name := field + "." + k
		if k == "comment" {
			c, err := ps.str(v, name)
			comment = c
			return err
		}
		known := false
		for _, m := range matchers {
			known = known || m == k
		}
		if !known {
			return ps.errAt(kn, name, "unknown key (known: %s, comment)", strings.Join(matchers, ", "))
		}
		if key != "" {
			return ps.errAt(kn, name, "an entry takes one matcher, it already has %s", key)
		}
		s, err := ps.str(v, name)
		key, value = k, s
		return err
	})
	if err == nil && key == "" {
		err = ps.errAt(n, field, "no matcher: give one of %s", strings.Join(matchers, ", "))
	}
	return key, value, comment, err
}

func (ps parser) moduleRule(n *yaml.Node, field string) (ModuleRule, error) {
	key, value, comment, err := ps.rule(n, field, []string{"path", "sha256", "package"})
	if err != nil {
		return ModuleRule{}, err
	}
	r := ModuleRule{Comment: comment}
	vn := valueNode(n, key)
	switch key {
	case "path":
		r.PathGlob = value
		r.path, err = ps.glob(vn, field+".path", value)
	case "sha256":
		if len(value) != 64 || strings.Trim(strings.ToLower(value), "0123456789abcdef") != "" {
			return r, ps.errAt(vn, field+".sha256", "%q is not a sha256 (want 64 hex digits)", value)
		}
		r.SHA256 = strings.ToLower(value)
	case "package":
		r.Package = value
	}
	return r, err
}

func (ps parser) processRule(n *yaml.Node, field string) (ProcessRule, error) {
	key, value, comment, err := ps.rule(n, field, []string{"path", "name"})
	if err != nil {
		return ProcessRule{}, err
	}
	r := ProcessRule{Comment: comment}
	switch key {
	case "path":
		r.PathGlob = value
		r.path, err = ps.glob(valueNode(n, key), field+".path", value)
	case "name":
		r.Name = value
	}
	return r, err
}

func (ps parser) glob(n *yaml.Node, field, glob string) (*regexp.Regexp, error) {
	if !path.IsAbs(glob) && !IsWindowsPath(glob) {
		return nil, ps.errAt(n, field, "%q is not an absolute path glob", glob)
	}
	c, err := compileGlob(glob)
	if err != nil {
		if errors.Is(err, path.ErrBadPattern) {
			return nil, ps.errAt(n, field, "%q is not a valid glob (unclosed [ or bad escape)", glob)
		}
		return nil, ps.errAt(n, field, "%q: %v", glob, err)
	}
	return c, nil
}

func valueNode(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return n
}
