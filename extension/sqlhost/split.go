package sqlhost

import "strings"

// Split cuts sql into the statements that end with a ';' outside quotes and
// comments, and returns what follows the last of them (an unfinished
// statement, or only blanks and comments). Statements are returned without
// their ';'; empty ones (";;", comment only) are dropped.
func Split(sql string) (stmts []string, rest string) {
	// Quotes ('...', "...", `...`, [...]) and line comments each end at one
	// byte: end is the byte that closes the one we are in, 0 outside.
	var end byte
	inBlock := false // inside /* ... */
	start := 0
	content := false // a token that is not blank or comment since start
	for i := 0; i < len(sql); i++ {
		ch := sql[i]
		next := byte(0)
		if i+1 < len(sql) {
			next = sql[i+1]
		}
		switch {
		case end != 0:
			// A doubled quote is an escaped quote: leaving and re-entering
			// the quote on the next byte handles it.
			if ch == end {
				end = 0
			}
		case inBlock:
			if ch == '*' && next == '/' {
				inBlock = false
				i++
			}
		case ch == ';':
			if content {
				stmts = append(stmts, strings.TrimSpace(sql[start:i]))
			}
			start, content = i+1, false
		case ch == '-' && next == '-':
			end = '\n'
			i++
		case ch == '/' && next == '*':
			inBlock = true
			i++
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v':
		default:
			if q := strings.IndexByte(openQuotes, ch); q >= 0 {
				end = closeQuotes[q]
			}
			content = true
		}
	}
	// An unclosed comment has no content yet but is not finished either: a
	// shell must keep it to read the rest.
	if content || inBlock {
		// Only leading blanks go: a caller that appends the next line to
		// rest needs the line break that ends it.
		rest = strings.TrimLeft(sql[start:], " \t\r\n\f\v")
	}
	return stmts, rest
}

// The quotes SQLite knows, and the byte that closes each.
const (
	openQuotes  = "'\"`["
	closeQuotes = "'\"`]"
)

// SplitStatements is Split for a complete script: a final statement without
// its ';' counts.
func SplitStatements(sql string) []string {
	stmts, rest := Split(sql)
	if rest != "" {
		stmts = append(stmts, strings.TrimSpace(rest))
	}
	return stmts
}
