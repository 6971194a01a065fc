package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// vocabDocs reads the doc comment of every typed constant declared in the
// vocab package, keyed by type name and value: the README's tables of
// statuses, actions and hold reasons are those comments, so the code's
// declaration is their one source.
func vocabDocs(t *testing.T) map[string]map[string]string {
	t.Helper()
	const dir = "../../vocab"
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				typ, ok := vs.Type.(*ast.Ident)
				if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
					continue
				}
				lit, ok := vs.Values[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				value, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				if out[typ.Name] == nil {
					out[typ.Name] = map[string]string{}
				}
				out[typ.Name][value] = constMeaning(vs.Names[0].Name, vs.Doc.Text())
			}
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
