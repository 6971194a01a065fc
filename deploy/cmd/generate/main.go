// Package main is the generate command: it writes the deploy files that are
// derived from one source each (package generated), with the helm binary
// found on PATH or in GOPATH/bin (.ci/run installs helm v3.22.0). It runs
// from `go generate ./...` in the deploy module (the directive is in
// deploy/doc.go), which the repository root's `go generate ./...` also runs.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ca-reconciler/ca-reconciler/deploy/internal/generated"
	"github.com/ca-reconciler/ca-reconciler/deploy/internal/tools"
)

func main() { os.Exit(run(context.Background(), os.Stdout, os.Stderr)) }

func run(ctx context.Context, stdout, stderr io.Writer) int {
	helm, err := tools.Look("helm")
	if err != nil {
		fmt.Fprintf(stderr, "generate: %v: go install helm.sh/helm/v3/cmd/helm@v3.22.0\n", err)
		return 1
	}
	// go generate runs this in deploy/ (the package of doc.go).
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, "generate:", err)
		return 1
	}
	root := filepath.Dir(wd)
	if _, err := os.Stat(filepath.Join(root, generated.ChartDir)); err != nil {
		fmt.Fprintf(stderr, "generate: run it in deploy/ of the repository (go generate ./...): %v\n", err)
		return 1
	}
	files, err := generated.Files(ctx, root, helm)
	if err != nil {
		fmt.Fprintln(stderr, "generate:", err)
		return 1
	}
	if err := generated.Write(root, files); err != nil {
		fmt.Fprintln(stderr, "generate:", err)
		return 1
	}
	for _, f := range files {
		fmt.Fprintln(stdout, "generated", f.Path)
	}
	return 0
}
