package deploy_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/deploy/image"
)

// TestDockerfileMatchesImage holds deploy/Dockerfile to what deploy/image
// builds (the image the tests run): base, user, entrypoint, command, port,
// labels and build flags.
func TestDockerfileMatchesImage(t *testing.T) {
	text := string(readFile(t, "deploy/Dockerfile"))
	text = strings.ReplaceAll(text, "\\\n", " ")
	var froms, users, entry, cmd, expose []string
	args := map[string]string{}
	var runs, labels []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			froms = append(froms, rest)
		case "USER":
			users = append(users, rest)
		case "ENTRYPOINT":
			entry = jsonArray(t, "ENTRYPOINT", rest)
		case "CMD":
			cmd = jsonArray(t, "CMD", rest)
		case "EXPOSE":
			expose = append(expose, rest)
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			if _, ok := args[k]; !ok || v != "" {
				args[k] = v
			}
		case "RUN":
			runs = append(runs, rest)
		case "LABEL":
			labels = append(labels, rest)
		}
	}
	if len(froms) != 2 {
		t.Fatalf("want a two-stage build, got FROM %q", froms)
	}
	if args["BASE_IMAGE"] != "cgr.dev/chainguard/static:latest" || froms[1] != "${BASE_IMAGE}" {
		t.Errorf("runtime stage must be cgr.dev/chainguard/static: FROM %s, BASE_IMAGE=%s", froms[1], args["BASE_IMAGE"])
	}
	if !strings.HasSuffix(froms[0], " AS build") {
		t.Errorf("first stage %q must be the build stage", froms[0])
	}
	if d := cmp.Diff([]string{"65532:65532"}, users); d != "" {
		t.Errorf("USER (-want +got):\n%s", d)
	}
	if d := cmp.Diff(image.Entrypoint(), entry); d != "" {
		t.Errorf("ENTRYPOINT differs from deploy/image (-want +got):\n%s", d)
	}
	if d := cmp.Diff(image.Cmd(), cmd); d != "" {
		t.Errorf("CMD differs from deploy/image (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"9090"}, expose); d != "" {
		t.Errorf("EXPOSE (-want +got):\n%s", d)
	}
	build := ""
	for _, r := range runs {
		if strings.Contains(r, "go build") {
			build = r
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-X main.version=${VERSION}"`, "-o /out/ca-reconciler", "./cmd/ca-reconciler"} {
		if !strings.Contains(build, want) {
			t.Errorf("go build %q lacks %q", build, want)
		}
	}
	label := strings.Join(labels, " ")
	for _, l := range []struct{ key, arg string }{
		{"org.opencontainers.image.source", "SOURCE"},
		{"org.opencontainers.image.revision", "REVISION"},
		{"org.opencontainers.image.version", "VERSION"},
		{"org.opencontainers.image.licenses", "LICENSES"},
	} {
		if !strings.Contains(label, l.key+`="${`+l.arg+`}"`) {
			t.Errorf("LABEL %s is not set from ARG %s", l.key, l.arg)
		}
		if _, ok := args[l.arg]; !ok {
			t.Errorf("no ARG %s", l.arg)
		}
	}
	if args["SOURCE"] != image.DefaultSource || args["LICENSES"] != image.DefaultLicenses {
		t.Errorf("ARG defaults SOURCE=%q LICENSES=%q differ from deploy/image's %q, %q", args["SOURCE"], args["LICENSES"], image.DefaultSource, image.DefaultLicenses)
	}
	copyRE := regexp.MustCompile(`(?m)^COPY --from=build /out/ca-reconciler ` + regexp.QuoteMeta(image.BinaryPath) + `$`)
	if !copyRE.MatchString(text) {
		t.Errorf("the binary must be copied to %s", image.BinaryPath)
	}
}

func jsonArray(t *testing.T, instr, s string) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Errorf("%s %s: want the exec (JSON array) form: %v", instr, s, err)
	}
	return out
}

// TestKoConfigMatchesImage decodes .ko.yaml strictly and holds it to the
// Dockerfile's base image and build flags.
func TestKoConfigMatchesImage(t *testing.T) {
	var ko struct {
		DefaultBaseImage string   `json:"defaultBaseImage"`
		DefaultPlatforms []string `json:"defaultPlatforms"`
		Builds           []struct {
			ID      string   `json:"id"`
			Main    string   `json:"main"`
			Env     []string `json:"env"`
			Flags   []string `json:"flags"`
			Ldflags []string `json:"ldflags"`
		} `json:"builds"`
	}
	if err := unmarshalStrict(readFile(t, ".ko.yaml"), &ko); err != nil {
		t.Fatalf(".ko.yaml: %v", err)
	}
	if ko.DefaultBaseImage != "cgr.dev/chainguard/static:latest" {
		t.Errorf("defaultBaseImage %q", ko.DefaultBaseImage)
	}
	if len(ko.Builds) != 1 {
		t.Fatalf("%d builds, want 1", len(ko.Builds))
	}
	b := ko.Builds[0]
	if b.Main != "./cmd/ca-reconciler" {
		t.Errorf("main %q", b.Main)
	}
	if d := cmp.Diff([]string{"CGO_ENABLED=0"}, b.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"-trimpath"}, b.Flags); d != "" {
		t.Errorf("flags (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"-X main.version={{.Env.VERSION}}"}, b.Ldflags); d != "" {
		t.Errorf("ldflags (-want +got):\n%s", d)
	}
}
