package vocab_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

func strs[T ~string](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = string(v)
	}
	return out
}

// lists is every type's list, by type name.
func lists() map[string][]string {
	return map[string][]string{
		"Mode":            strs(vocab.Modes()),
		"Dependency":      strs(vocab.Dependencies()),
		"EventKind":       strs(vocab.EventKinds()),
		"Status":          strs(vocab.Statuses()),
		"Action":          strs(vocab.Actions()),
		"Trigger":         strs(vocab.Triggers()),
		"CycleResult":     strs(vocab.CycleResults()),
		"Phase":           strs(vocab.Phases()),
		"BuildResult":     strs(vocab.BuildResults()),
		"WriteResult":     strs(vocab.WriteResults()),
		"FetchResult":     strs(vocab.FetchResults()),
		"FileState":       strs(vocab.FileStates()),
		"IgnoreReason":    strs(vocab.IgnoreReasons()),
		"HoldReason":      strs(vocab.HoldReasons()),
		"WebhookProvider": strs(vocab.WebhookProviders()),
		"WebhookResult":   strs(vocab.WebhookResults()),

		"PackageCheckStatus": strs(vocab.PackageCheckStatuses()),
	}
}

// TestEveryConstantIsListed reads the package's source: every typed
// constant must be in its type's list exactly once, and every list holds
// only declared constants. A value added without its list entry would be
// missing from metrics' pre-initialised labels and from pages.
func TestEveryConstantIsListed(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "vocab.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string][]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			typ, ok := vs.Type.(*ast.Ident)
			if !ok {
				t.Errorf("%s: constant %s has no named type", fset.Position(vs.Pos()), vs.Names[0])
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Errorf("%s: constant %s is not a string literal", fset.Position(vs.Pos()), vs.Names[0])
					continue
				}
				s, _ := strconv.Unquote(lit.Value)
				declared[typ.Name] = append(declared[typ.Name], s)
			}
		}
	}
	all := lists()
	for typ, values := range declared {
		list, ok := all[typ]
		if !ok {
			t.Errorf("type %s has constants but no list in this test", typ)
			continue
		}
		sort.Strings(values)
		got := append([]string(nil), list...)
		sort.Strings(got)
		if diff := cmp.Diff(values, got); diff != "" {
			t.Errorf("%s: list differs from the declared constants (-declared +listed):\n%s", typ, diff)
		}
	}
	for typ := range all {
		if _, ok := declared[typ]; !ok {
			t.Errorf("list %s has no declared constants", typ)
		}
	}
}

func TestStatusRules(t *testing.T) {
	type row struct{ Drifted, Managed, Known bool }
	got := map[vocab.Status]row{}
	for _, s := range append(vocab.Statuses(), "suspended-someday") {
		got[s] = row{s.Drifted(), s.Managed(), s.Known()}
	}
	want := map[vocab.Status]row{
		vocab.StatusSynced:    {Managed: true, Known: true},
		vocab.StatusDrifted:   {Drifted: true, Managed: true, Known: true},
		vocab.StatusFailed:    {Drifted: true, Managed: true, Known: true},
		vocab.StatusStalled:   {Drifted: true, Managed: true, Known: true},
		vocab.StatusInvalid:   {Managed: true, Known: true},
		vocab.StatusMissing:   {Managed: true, Known: true},
		vocab.StatusOrphan:    {Known: true},
		vocab.StatusSuspended: {Managed: true, Known: true},
		vocab.StatusPruned:    {Known: true},
		"suspended-someday":   {Managed: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status rules (-want +got):\n%s", diff)
	}
}

func TestActionRules(t *testing.T) {
	type row struct{ Writes, Error bool }
	got := map[vocab.Action]row{}
	for _, a := range vocab.Actions() {
		got[a] = row{a.Writes(), a.Error()}
	}
	want := map[vocab.Action]row{
		vocab.ActionUpdate:    {Writes: true},
		vocab.ActionReset:     {Writes: true},
		vocab.ActionNoop:      {},
		vocab.ActionInvalid:   {Error: true},
		vocab.ActionMissing:   {Error: true},
		vocab.ActionOrphan:    {},
		vocab.ActionCreate:    {Writes: true},
		vocab.ActionPrune:     {Writes: true},
		vocab.ActionSuspended: {},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("action rules (-want +got):\n%s", diff)
	}
}

func TestBuildResultFailed(t *testing.T) {
	got := map[vocab.BuildResult]bool{}
	for _, r := range vocab.BuildResults() {
		got[r] = r.Failed()
	}
	want := map[vocab.BuildResult]bool{vocab.BuildSuccess: false, vocab.BuildFailure: true, vocab.BuildTimeout: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Failed (-want +got):\n%s", diff)
	}
}

func TestIgnoreReasonsDescribed(t *testing.T) {
	seen := map[string]vocab.IgnoreReason{}
	for _, r := range vocab.IgnoreReasons() {
		d := r.Describe()
		if d == string(r) || d == "" {
			t.Errorf("reason %s has no description", r)
		}
		if other, dup := seen[d]; dup {
			t.Errorf("reasons %s and %s share the description %q", r, other, d)
		}
		seen[d] = r
	}
}

func TestHoldReasonRules(t *testing.T) {
	type row struct {
		Guard    bool
		Describe string
	}
	got := map[vocab.HoldReason]row{}
	for _, r := range append(vocab.HoldReasons(), "") {
		got[r] = row{r.Guard(), r.Describe()}
	}
	want := map[vocab.HoldReason]row{
		vocab.HoldSuspended:       {Describe: "suspended by the settings file"},
		vocab.HoldSettingsInvalid: {Guard: true, Describe: "the settings file is invalid: nothing is written, created or pruned until it is fixed"},
		vocab.HoldPruneLimit:      {Guard: true, Describe: "more repos would be pruned than --prune-limit allows: none is pruned"},
		vocab.HoldNoFiles:         {Guard: true, Describe: "the folder holds no valid file: nothing is pruned"},
		"":                        {},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hold reasons (-want +got):\n%s", diff)
	}
}

// The lists are fresh copies: a caller cannot change them for others.
func TestListsAreCopies(t *testing.T) {
	s := vocab.Statuses()
	s[0] = "changed"
	if vocab.Statuses()[0] != vocab.StatusSynced {
		t.Errorf("Statuses() shares its backing array")
	}
}
