package overlay

import (
	"regexp"
	"strconv"
	"strings"
)

// plainKey matches map keys that can be shown after a dot in a field path
// without ambiguity; any other key is shown quoted in brackets.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]*$`)

// keyField names the entry key of the mapping at parent: "environment.PORT",
// or `environment["MY VAR"]` for keys that need quoting.
func keyField(parent, key string) string {
	if !plainKey.MatchString(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// indexField names item i of the list at parent: "contents.packages[2]".
func indexField(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// parentField drops the last element of a field path: "a.b[2]" → "a.b",
// `a["x.y"]` → "a", "a.b.c" → "a.b" (a dotted map key is dropped one part at
// a time, which only ever walks further up). It returns "" at the top.
func parentField(field string) string {
	if strings.HasSuffix(field, "]") {
		// A quoted key may itself contain "[", so try each candidate
		// from the right until the bracketed part is a whole index or
		// quoted string.
		for i := strings.LastIndex(field, "["); i >= 0; i = strings.LastIndex(field[:i], "[") {
			inner := field[i+1 : len(field)-1]
			if _, err := strconv.Atoi(inner); err == nil {
				return field[:i]
			}
			if _, err := strconv.Unquote(inner); err == nil && strings.HasPrefix(inner, `"`) {
				return field[:i]
			}
		}
	}
	if i := strings.LastIndex(field, "."); i >= 0 {
		return field[:i]
	}
	return ""
}
