package gitsource_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ca-reconciler/ca-reconciler/gitsource"
)

// A Source serving the ca-images-iac folder of a local repository. Over
// https or ssh only the URL and Auth differ.
func ExampleSource_Fetch() {
	tmp, err := os.MkdirTemp("", "gitsource-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	repoDir := filepath.Join(tmp, "config")
	commit := func(name, data string) {
		repo, err := git.PlainInit(repoDir, false)
		if errors.Is(err, git.ErrRepositoryAlreadyExists) {
			repo, err = git.PlainOpen(repoDir)
		}
		if err != nil {
			panic(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(repoDir, name)), 0o755); err != nil {
			panic(err)
		}
		if err := os.WriteFile(filepath.Join(repoDir, name), []byte(data), 0o644); err != nil {
			panic(err)
		}
		wt, _ := repo.Worktree()
		if _, err := wt.Add(name); err != nil {
			panic(err)
		}
		who := &object.Signature{Name: "Example", Email: "example@example.com", When: time.Now()}
		if _, err := wt.Commit("add "+name, &git.CommitOptions{Author: who}); err != nil {
			panic(err)
		}
	}
	commit("ca-images-iac/python.yaml", "contents:\n  packages: [py3-pip]\n")
	commit("README.md", "not served\n")

	src, err := gitsource.New(gitsource.Config{
		URL:      repoDir,
		Path:     "ca-images-iac",
		CacheDir: filepath.Join(tmp, "cache"),
	})
	if err != nil {
		panic(err) // a configuration error
	}
	ctx := context.Background()
	for range 2 {
		snap, result, err := src.Fetch(ctx)
		if err != nil {
			panic(err)
		}
		names, err := fs.Glob(snap.FS, "*.yaml")
		if err != nil {
			panic(err)
		}
		fmt.Println(result, snap.Ref, len(names), "file(s)")
	}
	commit("ca-images-iac/node.yaml", "contents:\n  packages: [nodejs]\n")
	snap, result, err := src.Fetch(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(result)
	entries, err := fs.ReadDir(snap.FS, ".")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(snap.FS, e.Name())
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %d bytes\n", e.Name(), len(data))
	}
	// Output:
	// updated refs/heads/master 1 file(s)
	// unchanged refs/heads/master 1 file(s)
	// updated
	// node.yaml: 31 bytes
	// python.yaml: 32 bytes
}
