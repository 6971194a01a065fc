// Package image assembles the ca-reconciler container image without a Docker
// engine or a registry: one layer holding the static binary at
// /usr/bin/ca-reconciler, a CA bundle, and /etc/passwd and /etc/group with the
// nonroot user 65532, on an empty base, with the same configuration as
// deploy/Dockerfile and .ko.yaml (user 65532, no shell, ENTRYPOINT
// ["/usr/bin/ca-reconciler"], CMD ["run"], port 9090, OCI labels).
//
// Build returns the image as a go-containerregistry v1.Image; WriteLayout
// writes it as an OCI image layout directory that crane, skopeo, podman and
// containerd can push or import, and WriteTarball as a `docker save`
// tarball for `docker load` or `kind load image-archive`:
//
//	img, err := image.Build(image.Options{Binary: "bin/ca-reconciler", Version: "v1.0.0"})
//	...
//	err = image.WriteLayout("out/oci", img)
//	// crane push --index out/oci cgr.example/ca-reconciler:v1.0.0  (or: skopeo copy oci:out/oci docker://...)
//
// The build is reproducible: every timestamp is Options.Created (the Unix
// epoch by default), and file order and ownership are fixed.
package image

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identities inside the image. They match cgr.dev/chainguard/static
// so that the Dockerfile, ko and this package produce the same runtime view.
const (
	// BinaryPath is where the binary lives in the image; the entrypoint.
	BinaryPath = "/usr/bin/ca-reconciler"
	// CACertsPath is the CA bundle in the image; SSL_CERT_FILE points at it.
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
	// DefaultCACerts is the build machine's CA bundle copied into the image.
	DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"
	// UID and GID of the nonroot user the process runs as.
	UID = 65532
	// GID of the nonroot group.
	GID = 65532
	// HomeDir is the nonroot user's home and the working directory.
	HomeDir = "/home/nonroot"
	// Port is the --listen port the image exposes.
	Port = "9090/tcp"
	// DefaultSource is the org.opencontainers.image.source label by default.
	DefaultSource = "https://github.com/ca-reconciler/ca-reconciler"
	// DefaultLicenses is the SPDX value used when no license is given.
	DefaultLicenses = "NOASSERTION"
)

// Options say what to put in the image.
type Options struct {
	// Binary is the path of a statically linked Linux ca-reconciler
	// (CGO_ENABLED=0). Required. Its ELF header sets the image architecture.
	Binary string
	// CACerts is the CA bundle to copy to CACertsPath (DefaultCACerts if empty).
	CACerts string
	// Version, Revision, Source and Licenses fill the
	// org.opencontainers.image.* labels; Source and Licenses have defaults.
	Version  string
	Revision string
	Source   string
	Licenses string
	// Created stamps the config and every file (the Unix epoch if zero).
	Created time.Time
}

// Entrypoint is the image's entrypoint: the binary.
func Entrypoint() []string { return []string{BinaryPath} }

// Cmd is the default argument list: the daemon.
func Cmd() []string { return []string{"run"} }

// Build assembles the image.
func Build(opts Options) (v1.Image, error) {
	if opts.Binary == "" {
		return nil, errors.New("image: Options.Binary is required")
	}
	if opts.CACerts == "" {
		opts.CACerts = DefaultCACerts
	}
	if opts.Source == "" {
		opts.Source = DefaultSource
	}
	if opts.Licenses == "" {
		opts.Licenses = DefaultLicenses
	}
	if opts.Created.IsZero() {
		opts.Created = time.Unix(0, 0)
	}
	opts.Created = opts.Created.UTC()

	arch, err := staticArch(opts.Binary)
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("reading binary: %w", err)
	}
	certs, err := os.ReadFile(opts.CACerts)
	if err != nil {
		return nil, fmt.Errorf("reading CA bundle: %w", err)
	}
	layerTar, err := rootfs(bin, certs, opts.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("making layer: %w", err)
	}

	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: opts.Created},
			CreatedBy: "deploy/image: ca-reconciler, CA bundle, passwd and group",
			Comment:   "ca-reconciler " + opts.Version,
		},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, fmt.Errorf("appending layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = arch
	cf.OS = "linux"
	cf.Created = v1.Time{Time: opts.Created}
	cf.Config = v1.Config{
		User:         fmt.Sprint(UID),
		Entrypoint:   Entrypoint(),
		Cmd:          Cmd(),
		WorkingDir:   HomeDir,
		ExposedPorts: map[string]struct{}{Port: {}},
		Env: []string{
			"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
			"SSL_CERT_FILE=" + CACertsPath,
		},
		Labels: Labels(opts),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting config: %w", err)
	}
	return img, nil
}

// Labels are the OCI labels of the image for opts (empty values left out).
func Labels(opts Options) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "ca-reconciler",
		"org.opencontainers.image.description": "GitOps for Chainguard Custom Assembly",
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.source":   opts.Source,
		"org.opencontainers.image.revision": opts.Revision,
		"org.opencontainers.image.version":  opts.Version,
		"org.opencontainers.image.licenses": opts.Licenses,
	} {
		if v != "" {
			l[k] = v
		}
	}
	return l
}

// WriteLayout writes img as the only image of a fresh OCI image layout at
// path (created if missing; an existing index.json is replaced). The
// manifest is annotated with org.opencontainers.image.ref.name set to the
// version label, when there is one.
func WriteLayout(path string, img v1.Image) error {
	p, err := layout.Write(path, empty.Index)
	if err != nil {
		return fmt.Errorf("writing layout %s: %w", path, err)
	}
	var lopts []layout.Option
	if cf, err := img.ConfigFile(); err == nil {
		if v := cf.Config.Labels["org.opencontainers.image.version"]; v != "" {
			lopts = append(lopts, layout.WithAnnotations(map[string]string{
				"org.opencontainers.image.ref.name": v,
			}))
		}
	}
	if err := p.AppendImage(img, lopts...); err != nil {
		return fmt.Errorf("writing image to layout %s: %w", path, err)
	}
	return nil
}

// WriteTarball writes img as a `docker save` tarball tagged tag (e.g.
// ghcr.io/ca-reconciler/ca-reconciler:latest), which `docker load`,
// `kind load image-archive` and `podman load` read.
func WriteTarball(path, tag string, img v1.Image) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		return fmt.Errorf("writing tarball %s: %w", path, err)
	}
	return nil
}

// staticArch returns the GOARCH of a Linux ELF executable and rejects a
// dynamically linked one (it would not start on an image without libc).
func staticArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return "", fmt.Errorf("binary %s is not an ELF executable", path)
		}
		return "", fmt.Errorf("reading binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("binary %s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_S390:
		return "s390x", nil
	case elf.EM_PPC64:
		return "ppc64le", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	default:
		return "", fmt.Errorf("binary %s: unsupported machine %s", path, f.Machine)
	}
}

// rootfs returns the layer tarball: directories, passwd, group, the CA
// bundle and the binary, in a fixed order with fixed owners and times.
func rootfs(bin, certs []byte, mtime time.Time) ([]byte, error) {
	type entry struct {
		name     string
		mode     int64
		uid, gid int
		body     []byte
		dir      bool
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", UID, GID, HomeDir)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID)
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: certs},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, uid: UID, gid: GID, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "usr/", mode: 0o755, dir: true},
		{name: "usr/bin/", mode: 0o755, dir: true},
		{name: "usr/bin/ca-reconciler", mode: 0o755, body: bin},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing layer entry %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("writing layer entry %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing layer: %w", err)
	}
	return buf.Bytes(), nil
}
