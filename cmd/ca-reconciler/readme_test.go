package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

//go:generate go test -count=1 -run TestREADMEIsCurrent . -update

var update = flag.Bool("update", false, "rewrite the generated README sections")

// flagTable renders a command's flags as the README documents them.
func flagTable(cmd *cobra.Command) string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name := "`--" + f.Name + "`"
		if f.Shorthand != "" {
			name = "`-" + f.Shorthand + "`, " + name
		}
		def := f.DefValue
		switch {
		case f.Name == "cache-dir":
			def = "`$XDG_CACHE_HOME/ca-reconciler`"
		case def == "" || def == "[]":
			def = ""
		default:
			def = "`" + def + "`"
		}
		usage := strings.TrimSuffix(f.Usage, fmt.Sprintf(" (env %s)", envName(f.Name)))
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", name, envName(f.Name), def, strings.ReplaceAll(usage, "|", "\\|"))
	})
	return b.String()
}

// replaceSection swaps the text between <!-- NAME --> and <!-- /NAME -->.
func replaceSection(doc, name, body string) (string, bool) {
	re := regexp.MustCompile(`(?s)(<!-- ` + regexp.QuoteMeta(name) + ` -->\n).*?(<!-- /` + regexp.QuoteMeta(name) + ` -->)`)
	if !re.MatchString(doc) {
		return doc, false
	}
	return re.ReplaceAllLiteralString(doc, "<!-- "+name+" -->\n"+body+"<!-- /"+name+" -->"), true
}

// generatedSections are the README parts that must equal what the binary
// really has.
func generatedSections(t *testing.T) map[string]string {
	t.Helper()
	root := newRootCommand(func(string) (string, bool) { return "", false })
	out := map[string]string{}
	for _, name := range []string{"run", "plan", "validate", "emulator"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatalf("finding command %s: %v", name, err)
		}
		out["flags:"+name] = flagTable(cmd)
	}
	out["metrics"] = metricsTable(t)
	for name, body := range vocabSections(t) {
		out[name] = body
	}
	return out
}

func TestREADMEIsCurrent(t *testing.T) {
	const path = "../../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	want := doc
	for name, body := range generatedSections(t) {
		var ok bool
		want, ok = replaceSection(want, name, body)
		if !ok {
			t.Errorf("README.md has no <!-- %s --> ... <!-- /%s --> section", name, name)
		}
	}
	if want == doc {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's generated tables differ from the binary's flags and metrics; run: go generate ./...")
}
