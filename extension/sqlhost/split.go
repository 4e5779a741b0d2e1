package sqlhost

import "strings"

// Split cuts sql into the statements that end with a ';' outside quotes and
// comments, and returns what follows the last of them (an unfinished
// statement, or only blanks and comments). Statements are returned without
// their ';'; empty ones (";;", comment only) are dropped.
func Split(sql string) (stmts []string, rest string) {
	const (
		normal = iota
		single // '...'
		double // "..."
		back   // `...`
		bracket
		line  // -- ...
		block // /* ... */
	)
	state := normal
	start := 0
	content := false // a token that is not blank or comment since start
	for i := 0; i < len(sql); i++ {
		ch := sql[i]
		switch state {
		case normal:
			switch {
			case ch == ';':
				if content {
					stmts = append(stmts, strings.TrimSpace(sql[start:i]))
				}
				start, content = i+1, false
				continue
			case ch == '\'':
				state = single
			case ch == '"':
				state = double
			case ch == '`':
				state = back
			case ch == '[':
				state = bracket
			case ch == '-' && i+1 < len(sql) && sql[i+1] == '-':
				state = line
				i++
				continue
			case ch == '/' && i+1 < len(sql) && sql[i+1] == '*':
				state = block
				i++
				continue
			case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v':
				continue
			}
			content = true
		case single:
			// A doubled quote is an escaped quote: leaving and re-entering
			// the state on the next byte handles it.
			if ch == '\'' {
				state = normal
			}
		case double:
			if ch == '"' {
				state = normal
			}
		case back:
			if ch == '`' {
				state = normal
			}
		case bracket:
			if ch == ']' {
				state = normal
			}
		case line:
			if ch == '\n' {
				state = normal
			}
		case block:
			if ch == '*' && i+1 < len(sql) && sql[i+1] == '/' {
				state = normal
				i++
			}
		}
	}
	// An unclosed comment has no content yet but is not finished either: a
	// shell must keep it to read the rest.
	if content || state == block {
		// Only leading blanks go: a caller that appends the next line to
		// rest needs the line break that ends it.
		rest = strings.TrimLeft(sql[start:], " \t\r\n\f\v")
	}
	return stmts, rest
}

// SplitStatements is Split for a complete script: a final statement without
// its ';' counts.
func SplitStatements(sql string) []string {
	stmts, rest := Split(sql)
	if rest != "" {
		stmts = append(stmts, strings.TrimSpace(rest))
	}
	return stmts
}
