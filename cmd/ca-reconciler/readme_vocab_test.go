package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/ca-reconciler/ca-reconciler/internal/vocabgen"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// vocabularies reads vocab/vocab.yaml, keyed by type name: the README's
// tables of statuses, actions and hold reasons are its values and their doc
// comments, so one `go generate ./...` writes those tables and vocab.go from
// the same file, whichever runs first.
func vocabularies(t *testing.T) map[string]vocabgen.Vocabulary {
	t.Helper()
	vocabs, err := vocabgen.Load(filepath.Join("..", "..", vocabgen.Source))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]vocabgen.Vocabulary{}
	for _, v := range vocabs {
		out[v.Type] = v
	}
	return out
}

// constMeaning turns "StatusSynced: the live overlay equals the file." or
// "ActionUpdate writes ..." into "The live overlay equals the file." and
// "Writes ...".
func constMeaning(name, doc string) string {
	s := strings.Join(strings.Fields(doc), " ")
	s = strings.TrimPrefix(s, name)
	s = strings.TrimSpace(strings.TrimPrefix(s, ":"))
	r, n := utf8.DecodeRuneInString(s)
	return strings.ReplaceAll(string(unicode.ToUpper(r))+s[n:], "|", "\\|")
}

// vocabTable renders one vocabulary as a README table, in the order its
// list returns the values; every value must have a doc comment.
func vocabTable(t *testing.T, v vocabgen.Vocabulary, head string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "| %s | meaning |\n|---|---|\n", head)
	for _, c := range v.Values {
		if strings.TrimSpace(c.Doc) == "" {
			t.Errorf("vocab: %s %q has no doc comment for the README", head, c.Value)
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", c.Value, constMeaning(c.Name, c.Doc))
	}
	return b.String()
}

// vocabSections are the README tables generated from vocab.yaml.
func vocabSections(t *testing.T) map[string]string {
	t.Helper()
	vocabs := vocabularies(t)
	return map[string]string{
		"statuses":     vocabTable(t, vocabs["Status"], "status"),
		"actions":      vocabTable(t, vocabs["Action"], "action"),
		"hold-reasons": vocabTable(t, vocabs["HoldReason"], "reason"),
	}
}

func TestVocabDocsCoverEveryValue(t *testing.T) {
	sections := vocabSections(t)
	for name, values := range map[string][]string{
		"statuses":     strs(vocab.Statuses()),
		"actions":      strs(vocab.Actions()),
		"hold-reasons": strs(vocab.HoldReasons()),
	} {
		for _, v := range values {
			if !strings.Contains(sections[name], "| `"+v+"` | ") {
				t.Errorf("README table %s lacks %q", name, v)
			}
		}
	}
}

func strs[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
