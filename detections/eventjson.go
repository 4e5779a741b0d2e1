package detections

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/modhunt/modhunt/internal/platform"
	"unicode/utf8"

	"github.com/modhunt/modhunt/internal/textesc"
)

// ReadStats counts what ReadEvents saw.
type ReadStats struct {
	Events  int // module-load events handed to the callback
	Ignored int // records of another kind (a Sysmon event that is not ID 7)
}

// maxRecord bounds one JSON record (an evtx export record is a few KiB).
const maxRecord = 4 << 20

// ReadEvents decodes a stream of JSON objects, one per line or pretty-printed
// one after another, and calls fn for each module-load event with the line
// the object starts on. Two shapes are read:
//
//   - flat: {"Image": "...", "ImageLoaded": "...", "ProcessModules": [...], ...}
//     with the field names of Event (the shape `modhunt.ext events` writes);
//   - an evtx-to-JSON export (evtx_dump -o json/jsonl, python-evtx/xmltodict):
//     {"Event": {"System": {"EventID": 7, ...}, "EventData": {...}}}, where
//     EventData is a map of fields or {"Data": [{"@Name": ..., "#text": ...}]}.
//     Records whose EventID is not 7 are counted as ignored.
//
// An event's platform is its "Platform" field, else defaultPlatform. Bad
// input stops the read with an error naming name:line and the reason.
func ReadEvents(r io.Reader, name, defaultPlatform string, fn func(line int, ev *Event) error) (ReadStats, error) {
	var st ReadStats
	br := bufio.NewReader(r)
	line := 1
	for {
		// Skip whitespace between records, counting lines.
		c, err := skipSpace(br, &line)
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if c != '{' {
			return st, fmt.Errorf("%s:%d: expected a JSON object, found %q", name, line, c)
		}
		start := line
		rec, err := readObject(br, &line)
		if err != nil {
			return st, fmt.Errorf("%s:%d: %w", name, start, err)
		}
		dec := json.NewDecoder(bytes.NewReader(rec))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			return st, fmt.Errorf("%s:%d: invalid JSON: %w", name, start, err)
		}
		ev, ok, err := DecodeEvent(obj, defaultPlatform)
		if err != nil {
			return st, fmt.Errorf("%s:%d: %w", name, start, err)
		}
		if !ok {
			st.Ignored++
			continue
		}
		st.Events++
		if err := fn(start, &ev); err != nil {
			return st, err
		}
	}
}

func skipSpace(br *bufio.Reader, line *int) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case '\n':
			*line++
		case ' ', '\t', '\r':
		case 0xEF: // a UTF-8 byte order mark at the start of a file
			if b, err := br.Peek(2); err == nil && b[0] == 0xBB && b[1] == 0xBF {
				_, _ = br.Discard(2)
				continue
			}
			return c, nil
		default:
			_ = br.UnreadByte()
			return c, nil
		}
	}
}

// readObject returns the bytes of one JSON object (the reader is at its
// "{"), tracking strings and nesting, bounded by maxRecord.
func readObject(br *bufio.Reader, line *int) ([]byte, error) {
	var buf []byte
	depth, inStr, esc := 0, false, false
	for {
		c, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("unexpected end of input inside a JSON object")
		}
		if err != nil {
			return nil, err
		}
		if len(buf) >= maxRecord {
			return nil, fmt.Errorf("JSON object larger than %d bytes", maxRecord)
		}
		buf = append(buf, c)
		if c == '\n' {
			*line++
		}
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return buf, nil
			}
		}
	}
}

// DecodeEvent builds an Event from one decoded JSON object (see ReadEvents
// for the shapes). ok is false for a record that is not a module load.
func DecodeEvent(obj map[string]any, defaultPlatform string) (ev Event, ok bool, err error) {
	src := obj
	if wrapped, isMap := obj["Event"].(map[string]any); isMap {
		if sys, isMap := wrapped["System"].(map[string]any); isMap {
			if id, found := sys["EventID"]; found && eventID(id) != "7" {
				return ev, false, nil
			}
		}
		data, err := eventData(wrapped["EventData"])
		if err != nil {
			return ev, false, err
		}
		src = data
		if defaultPlatform == "" {
			defaultPlatform = PlatformWindows
		}
	}
	escaped, err := escapedFields(src)
	if err != nil {
		return ev, false, err
	}
	// A record carries what it carries: a number or boolean it lacks is
	// absent, not zero (Sysmon Event ID 7 has no ParentProcessId).
	ev.absent = numericFields
	for k, v := range src {
		if k == EscapedFieldsKey {
			continue
		}
		if escaped[k] {
			v = unescapeJSON(v)
		}
		if err := setJSON(&ev, k, v); err != nil {
			return ev, false, err
		}
	}
	if ev.Platform == "" {
		ev.Platform = defaultPlatform
	}
	// Sigma's "macos" (what events said before darwin was the one name)
	// reads as darwin.
	plat, known := platform.Parse(ev.Platform)
	if !known {
		return ev, false, fmt.Errorf("field Platform: %q is not windows, linux or darwin", ev.Platform)
	}
	ev.Platform = plat
	return ev, true, nil
}

// eventID reads System.EventID, a number or {"#text": "7"} / {"Value": 7}.
func eventID(v any) string {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range []string{"#text", "Value", "value"} {
			if y, found := x[k]; found {
				return eventID(y)
			}
		}
		return ""
	default:
		s, _ := jsonScalar(v)
		return strings.TrimSpace(s)
	}
}

func eventData(v any) (map[string]any, error) {
	m, isMap := v.(map[string]any)
	if !isMap {
		return nil, errors.New("the record has Event but no Event.EventData object")
	}
	data, isList := m["Data"].([]any)
	if !isList {
		return m, nil
	}
	out := make(map[string]any, len(data))
	for _, d := range data {
		item, isMap := d.(map[string]any)
		if !isMap {
			continue
		}
		name := firstString(item, "@Name", "Name", "name")
		if attrs, isMap := item["#attributes"].(map[string]any); isMap && name == "" {
			name = firstString(attrs, "Name")
		}
		if name == "" {
			continue
		}
		for _, k := range []string{"#text", "Value", "value", "text"} {
			if val, found := item[k]; found {
				out[name] = val
				break
			}
		}
	}
	return out, nil
}

func firstString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, isStr := m[k].(string); isStr {
			return s
		}
	}
	return ""
}

func jsonScalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case nil:
		return "", true
	}
	return "", false
}

func setJSON(ev *Event, k string, v any) error {
	// One lookup per key: an evtx record carries many fields Event does not
	// know, and each miss is a case-insensitive scan of every field.
	i, known := lookupField(k)
	if list, isList := v.([]any); isList {
		if known && fields[i].kind == kindList {
			var out []string
			for _, e := range list {
				s, ok := jsonScalar(e)
				if !ok {
					return fmt.Errorf("field %s: list element %v is not a string", k, e)
				}
				out = append(out, s)
			}
			*fields[i].list(ev) = out
			ev.markPresent(i)
			return nil
		}
		return fmt.Errorf("field %s: a list where %s takes one value", k, k)
	}
	if v == nil {
		ev.setNull(k)
		return nil
	}
	s, ok := jsonScalar(v)
	if !ok {
		if known {
			return fmt.Errorf("field %s: %T is not a scalar value", k, v)
		}
		// Unknown nested data (evtx "#attributes" and the like) is kept as
		// JSON text, so a rule can still look inside it with contains.
		b, _ := json.Marshal(v)
		s = string(b)
	}
	if !known {
		ev.setExtra(k, s)
		return nil
	}
	if !fields[i].set(ev, s) {
		return fmt.Errorf("field %s: %q is not a valid %s", k, s, kindName(fields[i].kind))
	}
	ev.markPresent(i)
	return nil
}

func kindName(k fieldKind) string {
	switch k {
	case kindInt:
		return "number"
	case kindBool:
		return "boolean"
	}
	return "value"
}

// EscapedFieldsKey is the field of a written event that lists the fields
// whose text was not valid UTF-8 (a Linux path or command line is any
// bytes): their values are written in textesc's reversible escape (\xNN for
// a byte, \\ for a backslash that would read as an escape) and read back to
// the exact bytes. Every other value is plain JSON text, as Sysmon exports
// have it, so those are never unescaped.
const EscapedFieldsKey = "EscapedFields"

// escapeInvalid escapes, in a field map about to be written as JSON, every
// text value and every list holding an element that is not valid UTF-8 (a
// whole list, so its elements read back alike), and names them under
// EscapedFieldsKey. JSON cannot carry such bytes: encoding/json would write
// U+FFFD and lose them.
func escapeInvalid(m map[string]any) {
	var names []string
	for k, v := range m {
		switch x := v.(type) {
		case string:
			if !utf8.ValidString(x) {
				m[k] = textesc.Escape(x, textesc.Invalid)
				names = append(names, k)
			}
		case []string:
			if slices.ContainsFunc(x, func(s string) bool { return !utf8.ValidString(s) }) {
				esc := make([]string, len(x))
				for i, s := range x {
					esc[i] = textesc.Escape(s, textesc.Invalid)
				}
				m[k] = esc
				names = append(names, k)
			}
		}
	}
	if len(names) > 0 {
		slices.Sort(names)
		m[EscapedFieldsKey] = names
	}
}

// escapedFields reads EscapedFieldsKey from a decoded record.
func escapedFields(src map[string]any) (map[string]bool, error) {
	v, found := src[EscapedFieldsKey]
	if !found {
		return nil, nil
	}
	list, isList := v.([]any)
	if !isList {
		return nil, fmt.Errorf("field %s: %T is not a list of field names", EscapedFieldsKey, v)
	}
	out := make(map[string]bool, len(list))
	for _, e := range list {
		name, isStr := e.(string)
		if !isStr {
			return nil, fmt.Errorf("field %s: %v is not a field name", EscapedFieldsKey, e)
		}
		out[name] = true
	}
	return out, nil
}

// unescapeJSON undoes escapeInvalid on one decoded value.
func unescapeJSON(v any) any {
	switch x := v.(type) {
	case string:
		return textesc.Unescape(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			if s, isStr := e.(string); isStr {
				out[i] = textesc.Unescape(s)
			} else {
				out[i] = e
			}
		}
		return out
	}
	return v
}
