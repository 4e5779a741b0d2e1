package detections

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/modhunt/modhunt/internal/platform"
	"github.com/modhunt/modhunt/internal/safefile"
)

//go:embed rules
var builtinRules embed.FS

// maxRuleFile bounds one rule file read: Sigma rules are a few KiB, and a
// rule folder may be writable by someone else.
const maxRuleFile = 1 << 20

// Engine evaluates loaded Sigma image_load rules against module events. It is
// immutable after Load and safe for concurrent use.
type Engine struct {
	rules      []*compiled
	byPlatform map[string][]*compiled
}

// Skipped is one rule file (or rule) that was not loaded, and why.
type Skipped struct {
	File   string
	Line   int // 0 when the reason has no line
	ID     string
	Title  string
	Reason string
}

func (s Skipped) String() string {
	loc := s.File
	if s.Line > 0 {
		loc += ":" + strconv.Itoa(s.Line)
	}
	name := ""
	if s.Title != "" {
		name = " (" + s.Title + ")"
	}
	return loc + ": " + s.Reason + name
}

// LoadReport says what Load did: every rule file is either loaded or skipped
// with a reason.
type LoadReport struct {
	Loaded  int
	Skipped []Skipped
	// FolderErrors are extra rule folders that could not be read at all.
	FolderErrors []Skipped
}

// Load reads the built-in rules (when builtin is set) and every .yml/.yaml
// file under dirs. A rule that cannot be parsed or evaluated is skipped and
// reported, never fatal; the error is for a broken build only (a built-in
// rule that does not load).
func Load(builtin bool, dirs []string) (*Engine, LoadReport, error) {
	e := &Engine{byPlatform: map[string][]*compiled{}}
	var rep LoadReport
	ids := map[string]string{}
	if builtin {
		err := fs.WalkDir(builtinRules, "rules", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isRuleFile(p) {
				return err
			}
			data, err := builtinRules.ReadFile(p)
			if err != nil {
				return err
			}
			before := len(rep.Skipped)
			e.add(data, "builtin:"+p, ids, &rep)
			if len(rep.Skipped) > before {
				return fmt.Errorf("built-in rule %s", rep.Skipped[before])
			}
			return nil
		})
		if err != nil {
			return nil, rep, err
		}
	}
	for _, dir := range dirs {
		e.loadDir(dir, ids, &rep)
	}
	return e, rep, nil
}

func isRuleFile(p string) bool {
	ext := strings.ToLower(filepath.Ext(p))
	return ext == ".yml" || ext == ".yaml"
}

func (e *Engine) loadDir(dir string, ids map[string]string, rep *LoadReport) {
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		rep.FolderErrors = append(rep.FolderErrors, Skipped{File: dir, Reason: "cannot read rule folder: " + err.Error()})
		return
	case !st.IsDir():
		rep.FolderErrors = append(rep.FolderErrors, Skipped{File: dir, Reason: "cannot read rule folder: not a folder"})
		return
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// An unreadable sub-folder or file is reported and the walk
			// goes on with the rest of the folder.
			rep.Skipped = append(rep.Skipped, Skipped{File: p, Reason: err.Error()})
			return skipEntry(d)
		}
		if d.IsDir() {
			// Rules decide what a root process reports: a folder someone
			// else could write into is refused with everything in it.
			if reason := untrustedFolder(d); reason != "" {
				if p == dir {
					rep.FolderErrors = append(rep.FolderErrors, Skipped{File: p, Reason: "rule folder " + reason})
				} else {
					rep.Skipped = append(rep.Skipped, Skipped{File: p, Reason: "rule folder " + reason})
				}
				return fs.SkipDir
			}
			return nil
		}
		if !isRuleFile(p) {
			return nil
		}
		// Symlinks are not followed (a rule folder is data, not a tree to
		// escape through) and only regular files are read; either way the
		// skip is reported.
		switch t := d.Type(); {
		case t.IsRegular():
			files = append(files, p)
		case t&fs.ModeSymlink != 0:
			rep.Skipped = append(rep.Skipped, Skipped{File: p, Reason: "rule file is a symlink: not followed"})
		default:
			rep.Skipped = append(rep.Skipped, Skipped{File: p, Reason: "rule file is not a regular file (" + fileKind(t) + ")"})
		}
		return nil
	})
	if err != nil {
		rep.FolderErrors = append(rep.FolderErrors, Skipped{File: dir, Reason: err.Error()})
	}
	sort.Strings(files)
	for _, p := range files {
		data, err := readBounded(p)
		if err != nil {
			rep.Skipped = append(rep.Skipped, Skipped{File: p, Reason: err.Error()})
			continue
		}
		e.add(data, p, ids, rep)
	}
}

// untrustedFolder says why a folder of the walk is not to be trusted, or
// "" when it is.
func untrustedFolder(d fs.DirEntry) string {
	fi, err := d.Info()
	if err != nil {
		return err.Error()
	}
	if err := safefile.CheckTrusted(fi); err != nil {
		return err.Error()
	}
	return ""
}

// fileKind names a non-regular file type for a skip reason.
func fileKind(t fs.FileMode) string {
	switch {
	case t&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + t.String()
}

// skipEntry tells WalkDir to leave out an entry it could not read.
func skipEntry(d fs.DirEntry) error {
	if d != nil && d.IsDir() {
		return fs.SkipDir
	}
	return nil
}

func readBounded(p string) ([]byte, error) {
	// The walk saw a regular file, but a folder someone else can write may
	// hold a FIFO or a symlink to a device under that name by now.
	// A rule someone else could have written is refused like the flag file.
	data, err := safefile.ReadTrusted(p, maxRuleFile, true)
	if err != nil {
		return nil, fmt.Errorf("rule file %w", err)
	}
	return data, nil
}

// add parses one rule file and keeps it or reports why not.
func (e *Engine) add(data []byte, source string, ids map[string]string, rep *LoadReport) {
	c, err := parseRule(data, source)
	if err != nil {
		s := Skipped{File: source, Reason: err.Error()}
		var se *skipError
		if errors.As(err, &se) {
			s.Line, s.Reason = se.line, se.reason
		}
		if c != nil {
			s.ID, s.Title = c.rule.ID, c.rule.Title
		}
		rep.Skipped = append(rep.Skipped, s)
		return
	}
	if first, dup := ids[c.rule.ID]; dup {
		rep.Skipped = append(rep.Skipped, Skipped{File: source, ID: c.rule.ID, Title: c.rule.Title,
			Reason: "duplicate rule id " + c.rule.ID + ", first loaded from " + first})
		return
	}
	ids[c.rule.ID] = source
	e.keep(c)
	rep.Loaded++
}

// keep adds a compiled rule to the engine, under every platform its
// logsource product selects.
func (e *Engine) keep(c *compiled) {
	e.rules = append(e.rules, c)
	for _, p := range platform.All() {
		if c.platform == "" || c.platform == p {
			e.byPlatform[p] = append(e.byPlatform[p], c)
		}
	}
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// parseRule parses and compiles one rule file. On a skip after parsing it
// also returns the partly built rule, for its id and title. A panic while
// reading a rule is a bug, but it costs only that rule: it is reported as
// the rule's skip reason.
func parseRule(data []byte, source string) (c *compiled, err error) {
	defer recoverRule(&c, &err)
	var docs []yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, yamlErr(err)
		}
		docs = append(docs, n)
	}
	if len(docs) == 0 {
		return nil, skipf(0, "empty file")
	}
	if len(docs) > 1 {
		return nil, skipf(0, "%d YAML documents in one file (a rule collection) are not supported", len(docs))
	}
	top := docs[0].Content
	if len(top) != 1 || top[0].Kind != yaml.MappingNode {
		return nil, skipf(docs[0].Line, "a rule must be a YAML mapping")
	}
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(top[0].Content); i += 2 {
		keys[top[0].Content[i].Value] = top[0].Content[i]
	}
	if k := keys["correlation"]; k != nil {
		return nil, skipf(k.Line, "correlation rules are not supported")
	}
	if k := keys["action"]; k != nil {
		return nil, skipf(k.Line, "rule collections (action:) are not supported")
	}
	if keys["detection"] == nil {
		return nil, skipf(0, "not a Sigma rule: no detection")
	}
	// Check the logsource before the full parse, so a rule for another
	// category is reported as that, not as whatever else it fails on.
	if ls := valueOf(top[0], "logsource"); ls != nil {
		if cat := valueOf(ls, "category"); cat == nil || cat.Value != "image_load" {
			got := ""
			if cat != nil {
				got = cat.Value
			}
			return nil, skipf(keys["logsource"].Line, "logsource category %q is not image_load", got)
		}
	}
	if det := valueOf(top[0], "detection"); det != nil {
		for i := 0; i+1 < len(det.Content); i += 2 {
			if k := det.Content[i]; k.Value == "timeframe" {
				return nil, skipf(k.Line, "timeframe (a temporal condition) is not supported")
			}
		}
	}
	doc, err := parseDoc(top[0], source)
	if err == nil {
		c, err = compileRule(doc)
	}
	if err != nil {
		var se *skipError
		if errors.As(err, &se) && se.line == 0 {
			if k := keys["logsource"]; k != nil && strings.HasPrefix(se.reason, "logsource") {
				se.line = k.Line
			}
		}
		if doc != nil {
			return &compiled{rule: doc.meta}, err
		}
		return nil, err
	}
	return c, nil
}

// valueOf returns the value node of key in a mapping node.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func yamlErr(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimSpace(strings.Replace(msg, m[0]+":", "", 1))
	}
	return skipf(line, "invalid YAML: %s", msg)
}

// Rules returns the loaded rules' metadata, in load order.
func (e *Engine) Rules() []*Rule {
	out := make([]*Rule, len(e.rules))
	for i, c := range e.rules {
		out[i] = c.rule
	}
	return out
}
