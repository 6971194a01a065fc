package overlay_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// ParseNode reads an overlay embedded in a larger document with the same
// rules as Parse, placing problems at their lines in that document.
func TestParseNode(t *testing.T) {
	doc := "repos:\n  - name: a\n    custom_overlay:\n      contents:\n        packages: [curl]\n      environment:\n        CHAINGUARD_X: y\n  - name: b\n    custom_overlay: [curl]\n  - name: c\n    custom_overlay:\n"
	var v struct {
		Repos []struct {
			Name          string    `yaml:"name"`
			CustomOverlay yaml.Node `yaml:"custom_overlay"`
		} `yaml:"repos"`
	}
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	o, err := overlay.ParseNode("seed.yaml", &v.Repos[0].CustomOverlay)
	if got, want := errString(err), `seed.yaml:7:9: environment.CHAINGUARD_X: key prefix "CHAINGUARD_" is reserved`; got != want {
		t.Errorf("a: %s, want %s", got, want)
	}
	if diff := cmp.Diff([]string{"curl"}, o.Packages); diff != "" {
		t.Errorf("a packages (-want +got):\n%s", diff)
	}
	if got, want := errString(func() error { _, err := overlay.ParseNode("seed.yaml", &v.Repos[1].CustomOverlay); return err }()), "seed.yaml:9:21: expected a mapping, got a list"; got != want {
		t.Errorf("b: %s, want %s", got, want)
	}
	for _, n := range []*yaml.Node{&v.Repos[2].CustomOverlay, nil} {
		if o, err := overlay.ParseNode("seed.yaml", n); err != nil || !overlay.Equal(o, overlay.Overlay{}) {
			t.Errorf("empty node: %+v, %v", o, err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
