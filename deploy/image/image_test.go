package image_test

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ca-reconciler/ca-reconciler/deploy/image"
	"github.com/ca-reconciler/ca-reconciler/deploy/internal/testbin"
)

// isShell reports whether a layer entry is a shell or a multi-call binary
// that provides one.
func isShell(name string) bool {
	switch path.Base(name) {
	case "sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox", "toybox":
		return true
	}
	return false
}

func TestBuildRunsTheBinary(t *testing.T) {
	bin := testbin.Build(t, "test-1.2.3")
	img, err := image.Build(image.Options{
		Binary:   bin,
		Version:  "test-1.2.3",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Licenses: "Apache-2.0",
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := image.WriteLayout(dir, img); err != nil {
		t.Fatal(err)
	}

	// Read it back from disk, as a registry client would.
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
	desc := im.Manifests[0]
	if desc.MediaType != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want %s", desc.MediaType, types.OCIManifestSchema1)
	}
	if got := desc.Annotations["org.opencontainers.image.ref.name"]; got != "test-1.2.3" {
		t.Errorf("ref.name annotation %q, want test-1.2.3", got)
	}
	got, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want {
		t.Errorf("layout digest %s, built %s", desc.Digest, want)
	}

	cf, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	wantCfg := v1.Config{
		User:         "65532",
		Entrypoint:   []string{"/usr/bin/ca-reconciler"},
		Cmd:          []string{"run"},
		WorkingDir:   "/home/nonroot",
		ExposedPorts: map[string]struct{}{"9090/tcp": {}},
		Env:          []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "ca-reconciler",
			"org.opencontainers.image.description": "GitOps for Chainguard Custom Assembly",
			"org.opencontainers.image.source":      "https://github.com/ca-reconciler/ca-reconciler",
			"org.opencontainers.image.revision":    "0123456789abcdef0123456789abcdef01234567",
			"org.opencontainers.image.version":     "test-1.2.3",
			"org.opencontainers.image.licenses":    "Apache-2.0",
		},
	}
	if d := cmp.Diff(wantCfg, cf.Config); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}

	layers, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	files := map[string]*tar.Header{}
	extracted := filepath.Join(t.TempDir(), "ca-reconciler")
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		if mt != types.OCILayer {
			t.Errorf("layer media type %s, want %s", mt, types.OCILayer)
		}
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
			files[h.Name] = h
			if isShell(h.Name) {
				t.Errorf("layer holds a shell: %s", h.Name)
			}
			if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
				t.Errorf("layer holds a link %s -> %s", h.Name, h.Linkname)
			}
			if h.Name == "usr/bin/ca-reconciler" {
				f, err := os.OpenFile(extracted, os.O_CREATE|os.O_WRONLY, 0o755)
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
			if h.Name == "etc/passwd" {
				b, _ := io.ReadAll(tr)
				if !strings.Contains(string(b), "\nnonroot:x:65532:65532:") {
					t.Errorf("/etc/passwd has no nonroot 65532 entry:\n%s", b)
				}
			}
			if h.Name == "etc/group" {
				b, _ := io.ReadAll(tr)
				if !strings.Contains(string(b), "\nnonroot:x:65532:") {
					t.Errorf("/etc/group has no nonroot 65532 entry:\n%s", b)
				}
			}
		}
		rc.Close()
	}
	for _, name := range []string{"usr/bin/ca-reconciler", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "etc/group", "tmp/", "home/nonroot/"} {
		if files[name] == nil {
			t.Errorf("layer lacks %s", name)
		}
	}
	if h := files["usr/bin/ca-reconciler"]; h != nil && h.Mode&0o111 == 0 {
		t.Errorf("binary mode %o is not executable", h.Mode)
	}
	if h := files["home/nonroot/"]; h != nil && (h.Uid != 65532 || h.Gid != 65532) {
		t.Errorf("/home/nonroot owned by %d:%d", h.Uid, h.Gid)
	}

	out, err := exec.Command(extracted, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("extracted binary: version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "ca-reconciler test-1.2.3 ") {
		t.Errorf("extracted binary printed %q, want ca-reconciler test-1.2.3 ...", out)
	}
}

func TestBuildIsReproducible(t *testing.T) {
	bin := testbin.Build(t, "repro")
	digest := func(created time.Time) v1.Hash {
		img, err := image.Build(image.Options{Binary: bin, Version: "repro", Created: created})
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := digest(time.Time{}), digest(time.Time{})
	if a != b {
		t.Errorf("two builds of the same inputs: %s and %s", a, b)
	}
	if c := digest(time.Unix(1700000000, 0)); c == a {
		t.Errorf("Created did not change the digest")
	}
}

func TestBuildRejects(t *testing.T) {
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts image.Options
		want string
	}{
		{"no binary", image.Options{}, "image: Options.Binary is required"},
		{"missing", image.Options{Binary: "/nonexistent/ca-reconciler"}, "reading binary: open /nonexistent/ca-reconciler: no such file or directory"},
		{"not ELF", image.Options{Binary: script}, "binary " + script + " is not an ELF executable"},
		{"dynamic", image.Options{Binary: "/bin/ls"}, "binary /bin/ls is dynamically linked; build it with CGO_ENABLED=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := image.Build(tc.opts)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Build error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestWriteTarball(t *testing.T) {
	bin := testbin.Build(t, "tar")
	img, err := image.Build(image.Options{Binary: bin, Version: "tar"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "image.tar")
	const tag = "ghcr.io/ca-reconciler/ca-reconciler:trial"
	if err := image.WriteTarball(path, tag, img); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tarball.ImageFromPath(path, &ref)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532" || cf.Config.Labels["org.opencontainers.image.version"] != "tar" {
		t.Errorf("config read back from the tarball: user %q, labels %v", cf.Config.User, cf.Config.Labels)
	}
	if err := image.WriteTarball(path, "Not A Tag!", img); err == nil {
		t.Error("WriteTarball accepted an invalid tag")
	}
}
