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

// vocabDocs reads the doc comment of every typed constant of the vocab
// package, keyed by type name and value, from vocab/vocab.yaml: the README's
// tables of statuses, actions and hold reasons are those comments, and the
// file vocab.go is generated from is their one source.
func vocabDocs(t *testing.T) map[string]map[string]string {
	t.Helper()
	vocabs, err := vocabgen.Load(filepath.Join("..", "..", vocabgen.Source))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, v := range vocabs {
		out[v.Type] = map[string]string{}
		for _, c := range v.Values {
			out[v.Type][c.Value] = constMeaning(c.Name, c.Doc)
		}
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

// vocabTable renders one vocabulary as a README table, in the order the
// code lists it; every value must have a doc comment.
func vocabTable[T ~string](t *testing.T, docs map[string]string, head string, values []T) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "| %s | meaning |\n|---|---|\n", head)
	for _, v := range values {
		meaning := docs[string(v)]
		if meaning == "" {
			t.Errorf("vocab: %s %q has no doc comment for the README", head, v)
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", v, meaning)
	}
	return b.String()
}

// vocabSections are the README tables generated from the vocab package.
func vocabSections(t *testing.T) map[string]string {
	t.Helper()
	docs := vocabDocs(t)
	return map[string]string{
		"statuses":     vocabTable(t, docs["Status"], "status", vocab.Statuses()),
		"actions":      vocabTable(t, docs["Action"], "action", vocab.Actions()),
		"hold-reasons": vocabTable(t, docs["HoldReason"], "reason", vocab.HoldReasons()),
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
