package detections

import (
	"strconv"
	"strings"

	"github.com/modhunt/modhunt/internal/platform"
)

// Platforms an event can come from, named as package platform names them;
// a rule's logsource product selects one (Sigma's "macos" selects darwin).
const (
	PlatformWindows = platform.Windows
	PlatformLinux   = platform.Linux
	PlatformDarwin  = platform.Darwin
)

// Event is one loaded module in one process: Sysmon Event ID 7's fields,
// the process context Sysmon puts in Event ID 1, and modhunt's own facts.
// Field names are the Sigma field names (see README.md for who fills what).
//
// A field is present, absent or null, and Sigma tells them apart (README.md,
// "Missing, null and empty"). By default an empty text field or list is
// absent and a number or boolean is present; Set, Unset and the recorded
// event reader record the other cases.
type Event struct {
	Platform string // windows, linux or darwin

	// Sysmon Event ID 7.
	ProcessId        int64
	Image            string
	ImageLoaded      string
	Signed           string // "true", "false" or "" (not checked)
	Signature        string
	SignatureStatus  string
	OriginalFileName string
	Description      string
	Product          string
	Company          string
	FileVersion      string
	Hashes           string // "SHA256=...,IMPHASH=..."
	User             string

	// Process context (Sysmon Event ID 1 names).
	CommandLine       string
	ParentImage       string
	ParentProcessId   int64
	ParentCommandLine string

	// modhunt's own fields.
	ProcessModules   []string // base names of every module mapped in the process
	UntrustedReasons []string // trust policy reasons, fixed vocabulary
	Deleted          bool
	Memfd            bool
	InLoaderList     bool
	CloneOfParent    bool // same Image and CommandLine as the parent process

	// .NET assembly events.
	AssemblyName    string
	AssemblyVersion string
	InMemory        bool
	PublicKeyToken  string // 16 lower-case hex digits; empty when unsigned
	Runtime         string // clr2, clr4, coreclr, mono or mscoree (shim only)

	// Memory-region events: one executable region no image file backs
	// (tables/unbacked). ImageLoaded is empty; the process fields are the
	// same as its module events'. The numbers and booleans here are absent
	// from module events (optional fields), so a module event does not
	// read as a region of size 0.
	RegionAddress    string // hex, 0x...
	RegionSize       int64
	RegionProtection string // rwx, r-x, ...
	RegionType       string // anonymous, memfd, deleted-file (linux); private, mapped-non-image (windows)
	RegionHeader     string // pe, elf, none; empty when not read
	RegionDotNet     bool   // a PE header naming a CLR runtime header
	RegionSha256     string // sha256 of the region's first page
	RegionInParent   bool   // a clone's parent holds the same region (address, size, first page)
	JitHost          bool   // the process is a known JIT runtime (trust policy jit_hosts)

	// Extra holds any other field (RuleName, ProcessGuid, ... from a
	// recorded Sysmon event), so community rules that use them still work.
	Extra map[string]string

	// Presence that the values alone cannot say, one bit per known field
	// (fields[i] is bit i): absent numbers and booleans, present empty text
	// and lists, and fields carried as null.
	absent, emptySet, null uint64
	nullExtra              []string // Extra names carried as null
}

// fieldKind says how a field's value is read for matching.
type fieldKind uint8

const (
	kindText fieldKind = iota
	kindInt
	kindBool
	kindList
)

// fieldDef is one known event field.
type fieldDef struct {
	name  string
	kind  fieldKind
	text  func(*Event) string
	num   func(*Event) int64
	flag  func(*Event) bool
	list  func(*Event) *[]string
	set   func(*Event, string) bool // from a recorded event's text value
	clear func(*Event)              // sets the zero value
	// opt: a number or boolean that is absent at its zero value unless
	// set (Set, or a recorded event's key), like an empty text field: a
	// field only some events carry.
	opt bool
}

// optional marks a number or boolean field absent at its zero value.
func optional(f fieldDef) fieldDef {
	f.opt = true
	return f
}

func textField(name string, get func(*Event) *string) fieldDef {
	return fieldDef{name: name, kind: kindText,
		text:  func(e *Event) string { return *get(e) },
		set:   func(e *Event, v string) bool { *get(e) = v; return true },
		clear: func(e *Event) { *get(e) = "" }}
}

func intField(name string, get func(*Event) *int64) fieldDef {
	return fieldDef{name: name, kind: kindInt,
		num:   func(e *Event) int64 { return *get(e) },
		clear: func(e *Event) { *get(e) = 0 },
		set: func(e *Event, v string) bool {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 0, 64)
			if err != nil {
				return false
			}
			*get(e) = n
			return true
		}}
}

func boolField(name string, get func(*Event) *bool) fieldDef {
	return fieldDef{name: name, kind: kindBool,
		flag:  func(e *Event) bool { return *get(e) },
		clear: func(e *Event) { *get(e) = false },
		set: func(e *Event, v string) bool {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return false
			}
			*get(e) = b
			return true
		}}
}

func listField(name string, get func(*Event) *[]string) fieldDef {
	return fieldDef{name: name, kind: kindList,
		list:  get,
		clear: func(e *Event) { *get(e) = nil },
		set: func(e *Event, v string) bool {
			// A recorded list may arrive flattened: "a.dll,b.dll".
			*get(e) = splitList(v)
			return true
		}}
}

func splitList(v string) []string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// fields lists every known field; its order is the field index used by
// compiled rules and the per-match cache.
var fields = []fieldDef{
	textField("Platform", func(e *Event) *string { return &e.Platform }),
	intField("ProcessId", func(e *Event) *int64 { return &e.ProcessId }),
	textField("Image", func(e *Event) *string { return &e.Image }),
	textField("ImageLoaded", func(e *Event) *string { return &e.ImageLoaded }),
	textField("Signed", func(e *Event) *string { return &e.Signed }),
	textField("Signature", func(e *Event) *string { return &e.Signature }),
	textField("SignatureStatus", func(e *Event) *string { return &e.SignatureStatus }),
	textField("OriginalFileName", func(e *Event) *string { return &e.OriginalFileName }),
	textField("Description", func(e *Event) *string { return &e.Description }),
	textField("Product", func(e *Event) *string { return &e.Product }),
	textField("Company", func(e *Event) *string { return &e.Company }),
	textField("FileVersion", func(e *Event) *string { return &e.FileVersion }),
	textField("Hashes", func(e *Event) *string { return &e.Hashes }),
	textField("User", func(e *Event) *string { return &e.User }),
	textField("CommandLine", func(e *Event) *string { return &e.CommandLine }),
	textField("ParentImage", func(e *Event) *string { return &e.ParentImage }),
	intField("ParentProcessId", func(e *Event) *int64 { return &e.ParentProcessId }),
	textField("ParentCommandLine", func(e *Event) *string { return &e.ParentCommandLine }),
	listField("ProcessModules", func(e *Event) *[]string { return &e.ProcessModules }),
	listField("UntrustedReasons", func(e *Event) *[]string { return &e.UntrustedReasons }),
	boolField("Deleted", func(e *Event) *bool { return &e.Deleted }),
	boolField("Memfd", func(e *Event) *bool { return &e.Memfd }),
	boolField("InLoaderList", func(e *Event) *bool { return &e.InLoaderList }),
	boolField("CloneOfParent", func(e *Event) *bool { return &e.CloneOfParent }),
	textField("AssemblyName", func(e *Event) *string { return &e.AssemblyName }),
	textField("AssemblyVersion", func(e *Event) *string { return &e.AssemblyVersion }),
	boolField("InMemory", func(e *Event) *bool { return &e.InMemory }),
	textField("PublicKeyToken", func(e *Event) *string { return &e.PublicKeyToken }),
	textField("Runtime", func(e *Event) *string { return &e.Runtime }),
	textField("RegionAddress", func(e *Event) *string { return &e.RegionAddress }),
	optional(intField("RegionSize", func(e *Event) *int64 { return &e.RegionSize })),
	textField("RegionProtection", func(e *Event) *string { return &e.RegionProtection }),
	textField("RegionType", func(e *Event) *string { return &e.RegionType }),
	textField("RegionHeader", func(e *Event) *string { return &e.RegionHeader }),
	optional(boolField("RegionDotNet", func(e *Event) *bool { return &e.RegionDotNet })),
	textField("RegionSha256", func(e *Event) *string { return &e.RegionSha256 }),
	optional(boolField("RegionInParent", func(e *Event) *bool { return &e.RegionInParent })),
	optional(boolField("JitHost", func(e *Event) *bool { return &e.JitHost })),
}

var fieldIndex = func() map[string]int {
	m := make(map[string]int, len(fields))
	for i, f := range fields {
		m[f.name] = i
	}
	return m
}()

// lookupField resolves a Sigma field name to a known field, exactly first and
// then ignoring case (recorded events and rules disagree on "ProcessID").
func lookupField(name string) (int, bool) {
	if i, ok := fieldIndex[name]; ok {
		return i, true
	}
	for i, f := range fields {
		if strings.EqualFold(f.name, name) {
			return i, true
		}
	}
	return -1, false
}

// Set assigns a field from its text form, as a recorded event carries it,
// and marks it present, also when the text is empty. Unknown names go to
// Extra. It reports false when the value does not parse for the field's type
// (a number or a boolean).
func (e *Event) Set(name, value string) bool {
	if i, ok := lookupField(name); ok {
		if !fields[i].set(e, value) {
			return false
		}
		e.markPresent(i)
		return true
	}
	e.setExtra(name, value)
	return true
}

// markPresent records that the event carries known field i, also when its
// value is empty.
func (e *Event) markPresent(i int) {
	bit := uint64(1) << i
	e.absent &^= bit
	e.null &^= bit
	// Only an empty value needs the bit: a non-empty one says it is there.
	// Leaving it off keeps a decoded event equal to the one that was written.
	f := &fields[i]
	if f.kind == kindText && f.text(e) == "" || f.kind == kindList && len(*f.list(e)) == 0 || f.opt && f.zero(e) {
		e.emptySet |= bit
	}
}

// numericFields has the bit of every number and boolean field but the
// optional ones, which are absent at their zero value anyway.
var numericFields = func() uint64 {
	var m uint64
	for i, f := range fields {
		if (f.kind == kindInt || f.kind == kindBool) && !f.opt {
			m |= 1 << i
		}
	}
	return m
}()

// Unset marks a field absent: the event's source does not carry it. A
// number or boolean is otherwise present with its zero value, so a builder
// whose source lacks one (Sysmon Event ID 7 has no ParentProcessId) calls
// Unset for it. Set makes the field present again.
func (e *Event) Unset(name string) {
	i, ok := lookupField(name)
	if !ok {
		delete(e.Extra, name)
		e.dropNullExtra(name)
		return
	}
	fields[i].clear(e)
	bit := uint64(1) << i
	e.absent |= bit
	e.null &^= bit
	e.emptySet &^= bit
}

// setNull records a field carried with a null value: Sigma's `field: null`
// matches it, and `|exists: true` holds, since the field is there.
func (e *Event) setNull(name string) {
	i, ok := lookupField(name)
	if !ok {
		delete(e.Extra, name)
		e.dropNullExtra(name)
		e.nullExtra = append(e.nullExtra, name)
		return
	}
	fields[i].clear(e)
	bit := uint64(1) << i
	e.null |= bit
	e.absent &^= bit
	e.emptySet &^= bit
}

func (e *Event) dropNullExtra(name string) {
	for j, n := range e.nullExtra {
		if n == name {
			e.nullExtra = append(e.nullExtra[:j:j], e.nullExtra[j+1:]...)
			return
		}
	}
}

// Has reports whether the event carries the field, with a value, empty or
// null: what Sigma's `|exists` asks.
func (e *Event) Has(name string) bool {
	if i, ok := lookupField(name); ok {
		return e.presence(i) != fieldAbsent
	}
	return e.extraPresence(name) != fieldAbsent
}

// presence is what Sigma can tell of a field besides its value.
type presence uint8

const (
	fieldAbsent presence = iota
	fieldNull
	fieldPresent
)

func (e *Event) presence(i int) presence {
	bit := uint64(1) << i
	f := &fields[i]
	switch f.kind {
	case kindText, kindList:
		nonEmpty := f.kind == kindText && f.text(e) != "" || f.kind == kindList && len(*f.list(e)) > 0
		switch {
		case nonEmpty:
			return fieldPresent
		case e.null&bit != 0:
			return fieldNull
		case e.emptySet&bit != 0:
			return fieldPresent
		}
		return fieldAbsent
	}
	switch {
	case e.null&bit != 0:
		return fieldNull
	case e.absent&bit != 0, f.opt && e.emptySet&bit == 0 && f.zero(e):
		return fieldAbsent
	}
	return fieldPresent
}

// zero reports whether a number or boolean field holds its zero value.
func (f *fieldDef) zero(e *Event) bool {
	switch f.kind {
	case kindInt:
		return f.num(e) == 0
	case kindBool:
		return !f.flag(e)
	}
	return false
}

func (e *Event) extraPresence(name string) presence {
	if _, ok := e.Extra[name]; ok {
		return fieldPresent
	}
	for _, n := range e.nullExtra {
		if n == name {
			return fieldNull
		}
	}
	return fieldAbsent
}

func (e *Event) setExtra(name, value string) {
	if e.Extra == nil {
		e.Extra = map[string]string{}
	}
	e.dropNullExtra(name)
	e.Extra[name] = value
}

// Fields returns the event as a flat map of Sigma field names to values
// (strings, numbers, booleans, string lists): the JSON shape `detect` reads
// and `events` writes. An absent field is left out and a null one is nil, so
// the map reads back as the same event. A value that is not valid UTF-8 is
// escaped and named in EscapedFields (see escapeInvalid), so JSON carries its
// bytes instead of U+FFFD.
func (e *Event) Fields() map[string]any {
	m := make(map[string]any, len(fields)+len(e.Extra)+len(e.nullExtra))
	for i, f := range fields {
		switch e.presence(i) {
		case fieldAbsent:
			continue
		case fieldNull:
			m[f.name] = nil
			continue
		}
		switch f.kind {
		case kindText:
			m[f.name] = f.text(e)
		case kindInt:
			m[f.name] = f.num(e)
		case kindBool:
			m[f.name] = f.flag(e)
		case kindList:
			l := *f.list(e)
			if l == nil {
				l = []string{}
			}
			m[f.name] = l
		}
	}
	for k, v := range e.Extra {
		if _, known := m[k]; !known {
			m[k] = v
		}
	}
	for _, k := range e.nullExtra {
		if _, known := m[k]; !known {
			m[k] = nil
		}
	}
	escapeInvalid(m)
	return m
}

// IsCloneOfParent is the rule the event builder uses for CloneOfParent: the
// process runs the same image with the same command line as its parent, as
// a fork/reflection clone does (Dirty Vanity). Windows paths compare without
// case.
func IsCloneOfParent(platform, image, cmdline, parentImage, parentCmdline string) bool {
	if image == "" || parentImage == "" {
		return false
	}
	if platform == PlatformWindows {
		return strings.EqualFold(image, parentImage) && cmdline == parentCmdline
	}
	return image == parentImage && cmdline == parentCmdline
}
