// Package tools finds the command line tools the deploy module runs (helm,
// kubectl, promtool): on PATH, or where `go install` puts them (GOBIN,
// GOPATH/bin), which need not be on PATH.
package tools

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNotFound is returned by Look for a tool that is nowhere.
var ErrNotFound = errors.New("not found on PATH, in GOBIN or in GOPATH/bin")

// Look returns the path of the named tool.
func Look(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w (go env: %v)", name, ErrNotFound, err)
	}
	lines := strings.Split(string(out), "\n") // GOBIN, GOPATH; either may be empty
	var dirs []string
	if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
		dirs = append(dirs, strings.TrimSpace(lines[0]))
	}
	if len(lines) > 1 {
		for _, gp := range filepath.SplitList(strings.TrimSpace(lines[1])) {
			dirs = append(dirs, filepath.Join(gp, "bin"))
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotFound)
}
