package deploy_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/ko/pkg/build"
	"github.com/google/ko/pkg/commands/options"
)

const (
	// daemonImportPath is what .ko.yaml builds.
	daemonImportPath = "github.com/ca-reconciler/ca-reconciler/cmd/ca-reconciler"
	// productionBase is .ko.yaml's defaultBaseImage.
	productionBase = "cgr.dev/chainguard/static:latest"
)

// TestKoBuildRunsTheBinary builds the image from .ko.yaml, the one image
// definition, with ko's own config loader and builder (what `ko build`
// runs), writes it to an OCI layout, reads it back, and runs the binary it
// holds.
//
// Offline trade-off: there is no registry here, so the base image is not
// .ko.yaml's cgr.dev/chainguard/static but an empty linux/amd64 base the test
// makes with static's user (65532). What is checked is everything ko and
// .ko.yaml decide (build env, flags, ldflags with the version, the binary's
// path and the entrypoint, the user kept from the base); the base's own
// files (CA bundle, /etc/passwd) are not. The build is for the host's
// platform only (.ko.yaml's defaultPlatforms are checked as values).
func TestKoBuildRunsTheBinary(t *testing.T) {
	bo := &options.BuildOptions{WorkingDirectory: root(t)}
	if err := bo.LoadConfig(); err != nil {
		t.Fatalf("loading .ko.yaml: %v", err)
	}
	if bo.BaseImage != productionBase {
		t.Errorf(".ko.yaml defaultBaseImage %q, want %q (no shell, user 65532, CA certificates)", bo.BaseImage, productionBase)
	}
	if d := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, bo.DefaultPlatforms); d != "" {
		t.Errorf(".ko.yaml defaultPlatforms (-want +got):\n%s", d)
	}
	cfg, ok := bo.BuildConfigs[daemonImportPath]
	if !ok || len(bo.BuildConfigs) != 1 {
		t.Fatalf(".ko.yaml builds %v, want exactly %s", keys(bo.BuildConfigs), daemonImportPath)
	}
	if d := cmp.Diff([]string{"CGO_ENABLED=0"}, cfg.Env); d != "" {
		t.Errorf(".ko.yaml env (-want +got):\n%s", d)
	}

	base := testBase(t)
	var baseAsked []string
	getBase := func(_ context.Context, ref string) (name.Reference, build.Result, error) {
		baseAsked = append(baseAsked, ref)
		r, err := name.ParseReference(bo.BaseImage)
		return r, base, err
	}
	t.Setenv("VERSION", "test-1.2.3") // .ko.yaml: -X main.version={{.Env.VERSION}}
	b, err := build.NewGobuilds(t.Context(), bo.WorkingDirectory, bo.BuildConfigs,
		build.WithBaseImages(getBase),
		build.WithConfig(bo.BuildConfigs),
		build.WithPlatforms("linux/amd64"),
		build.WithDefaultEnv(bo.DefaultEnv),
		build.WithDefaultFlags(bo.DefaultFlags),
		build.WithDefaultLdflags(bo.DefaultLdflags),
		build.WithTrimpath(true),
		build.WithDisabledSBOM(),
	)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Build(t.Context(), build.StrictScheme+daemonImportPath)
	if err != nil {
		t.Fatalf("ko build: %v", err)
	}
	if d := cmp.Diff([]string{build.StrictScheme + daemonImportPath}, baseAsked); d != "" {
		t.Errorf("base image asked for (-want +got):\n%s", d)
	}
	img, ok := res.(v1.Image)
	if !ok {
		t.Fatalf("ko built a %T, want one image", res)
	}

	// Write it as an OCI layout and read it back, as a registry client would.
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("layout holds %d manifests, want 1", len(im.Manifests))
	}
	got, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if cf.Config.User != "65532" {
		t.Errorf("user %q, want 65532 (from the base)", cf.Config.User)
	}
	if d := cmp.Diff([]string{"/ko-app/ca-reconciler"}, cf.Config.Entrypoint); d != "" {
		t.Errorf("entrypoint (-want +got):\n%s", d)
	}
	if len(cf.Config.Cmd) != 0 {
		t.Errorf("cmd %q; ko sets none, so every manifest passes `run`", cf.Config.Cmd)
	}

	bin := extract(t, got, "ko-app/ca-reconciler")
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("the image's binary: version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "ca-reconciler test-1.2.3 ") {
		t.Errorf("the image's binary printed %q, want ca-reconciler test-1.2.3 ...", out)
	}
}

// testBase is the offline stand-in for cgr.dev/chainguard/static: no
// layers, linux/amd64, user 65532.
func testBase(t *testing.T) v1.Image {
	t.Helper()
	cf, err := empty.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.User = "65532"
	img, err := mutate.ConfigFile(empty.Image, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// extract writes one file of an image's layers to a temporary executable,
// failing on a shell or a link anywhere in the image.
func extract(t *testing.T, img v1.Image, want string) string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), path.Base(want))
	found := false
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			switch path.Base(h.Name) {
			case "sh", "bash", "ash", "dash", "busybox":
				t.Errorf("the image holds a shell: %s", h.Name)
			}
			if strings.TrimPrefix(h.Name, "/") != want {
				continue
			}
			found = true
			if h.Mode&0o111 == 0 {
				t.Errorf("%s mode %o is not executable", h.Name, h.Mode)
			}
			f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}
		rc.Close()
	}
	if !found {
		t.Fatalf("the image has no %s", want)
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
