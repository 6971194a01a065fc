package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// staticBinary builds this command as a static Linux binary: any one will
// do as the image's content.
func staticBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "build-image")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestRun(t *testing.T) {
	bin := staticBinary(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "oci")
	tar := filepath.Join(dir, "image.tar")
	var stdout, stderr bytes.Buffer
	env := func(k string) string {
		if k == "SOURCE_DATE_EPOCH" {
			return "1700000000"
		}
		return ""
	}
	code := run([]string{"--binary", bin, "--out", out, "--version", "v0.0.1", "--revision", "abc", "--tarball", tar}, &stdout, &stderr, env)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	idx, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || strings.TrimSpace(stdout.String()) != m.Manifests[0].Digest.String() {
		t.Errorf("printed %q; layout holds %v", stdout.String(), m.Manifests)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Created.Unix() != 1700000000 {
		t.Errorf("created %v, want SOURCE_DATE_EPOCH", cf.Created)
	}
	if cf.Config.Labels["org.opencontainers.image.revision"] != "abc" {
		t.Errorf("labels %v", cf.Config.Labels)
	}
}

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{nil, "", "usage: build-image"},
		{[]string{"--binary", "x"}, "", "usage: build-image"},
		{[]string{"--binary", "x", "--out", "y", "extra"}, "", "usage: build-image"},
		{[]string{"--nope"}, "", "flag provided but not defined: -nope"},
		{[]string{"--binary", "x", "--out", "y"}, "yesterday", `build-image: invalid SOURCE_DATE_EPOCH "yesterday"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr, func(string) string { return tc.env })
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("run(%q): exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
