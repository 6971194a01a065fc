// Package main is the build-image command. It assembles the ca-reconciler container image as an OCI
// image layout directory, in pure Go: no Docker engine, no registry. It puts
// the same files and configuration in the image as deploy/Dockerfile does.
//
//	CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=v1.0.0" -o bin/ca-reconciler ./cmd/ca-reconciler
//	go run ./cmd/build-image --binary bin/ca-reconciler --out out/oci --version v1.0.0 --revision "$(git rev-parse HEAD)"
//	crane push --index out/oci registry.example/ca-reconciler:v1.0.0
//
// With --tarball FILE it also writes a `docker save` tarball tagged --tag,
// for `docker load` or `kind load image-archive`.
//
// It prints the image digest.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/ca-reconciler/ca-reconciler/deploy/image"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv)) }

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("build-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts image.Options
	var out, tarPath, tag string
	fs.StringVar(&opts.Binary, "binary", "", "statically linked Linux ca-reconciler binary (required)")
	fs.StringVar(&out, "out", "", "OCI image layout directory to write (required)")
	fs.StringVar(&tarPath, "tarball", "", "also write a `docker save` tarball here (for docker load, kind load image-archive)")
	fs.StringVar(&tag, "tag", "ghcr.io/ca-reconciler/ca-reconciler:latest", "the tarball's image tag")
	fs.StringVar(&opts.Version, "version", "", "org.opencontainers.image.version label")
	fs.StringVar(&opts.Revision, "revision", "", "org.opencontainers.image.revision label (the Git commit)")
	fs.StringVar(&opts.Source, "source", image.DefaultSource, "org.opencontainers.image.source label")
	fs.StringVar(&opts.Licenses, "licenses", image.DefaultLicenses, "org.opencontainers.image.licenses label (SPDX)")
	fs.StringVar(&opts.CACerts, "ca-certs", image.DefaultCACerts, "CA bundle to copy into the image")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if opts.Binary == "" || out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: build-image --binary PATH --out DIR [--version V] [--revision R] [--tarball FILE [--tag REF]]")
		return 2
	}
	// SOURCE_DATE_EPOCH (reproducible-builds.org) sets every timestamp.
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "build-image: invalid SOURCE_DATE_EPOCH %q\n", s)
			return 2
		}
		opts.Created = time.Unix(sec, 0)
	}
	img, err := image.Build(opts)
	if err != nil {
		fmt.Fprintln(stderr, "build-image:", err)
		return 1
	}
	if err := image.WriteLayout(out, img); err != nil {
		fmt.Fprintln(stderr, "build-image:", err)
		return 1
	}
	if tarPath != "" {
		if err := image.WriteTarball(tarPath, tag, img); err != nil {
			fmt.Fprintln(stderr, "build-image:", err)
			return 1
		}
	}
	d, err := img.Digest()
	if err != nil {
		fmt.Fprintln(stderr, "build-image:", err)
		return 1
	}
	fmt.Fprintln(stdout, d)
	return 0
}
