package reconciler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// DesiredRepo is what one file (or a conflicting pair of files) asks for.
type DesiredRepo struct {
	// File is the managing file's path in the Git repo. For a conflict it
	// is the first of the conflicting files.
	File string
	// Overlay is the parsed overlay; meaningless when Err is set.
	Overlay overlay.Overlay
	// Hash is overlay.Hash(Overlay) for a valid file (Compute compares it
	// with the live overlay's hash), and a hash of the content otherwise;
	// a change to the file changes it, which resets the stall counter.
	Hash string
	// Err is why the file cannot be applied: overlay.Problems for a bad
	// file, or a conflict between two files for one repo.
	Err error
}

// Desired is the desired state of one revision.
type Desired struct {
	Revision string
	// Repos maps repo name to what its file asks for.
	Repos map[string]DesiredRepo
	// Ignored lists the entries under the folder that manage nothing, with
	// why, sorted by path.
	Ignored []store.IgnoredFile
}

// Counts returns how many files are valid, invalid and ignored.
func (d Desired) Counts() (valid, invalid, ignored int) {
	for _, r := range d.Repos {
		if r.Err != nil {
			invalid++
		} else {
			valid++
		}
	}
	return valid, invalid, len(d.Ignored)
}

// MapFiles turns the files of a snapshot into desired state. dir is the
// folder the files are relative to (for messages). A file NAME.yaml or
// NAME.yml directly in dir manages repo NAME; anything else (nested folders,
// other extensions, hidden files) is ignored. Two files naming one repo are
// both errors and neither is applied.
func MapFiles(dir string, snap gitsource.Snapshot) Desired {
	d := Desired{Revision: snap.Revision, Repos: map[string]DesiredRepo{}}
	byRepo := map[string][]gitsource.File{}
	for _, f := range snap.Files {
		name, why := repoName(f.Path)
		if why != "" {
			d.Ignored = append(d.Ignored, store.IgnoredFile{Path: path.Join(dir, f.Path), Reason: why})
			continue
		}
		byRepo[name] = append(byRepo[name], f)
	}
	for name, files := range byRepo {
		if len(files) > 1 {
			paths := make([]string, len(files))
			for i, f := range files {
				paths[i] = path.Join(dir, f.Path)
			}
			sort.Strings(paths)
			d.Repos[name] = DesiredRepo{
				File: paths[0],
				Hash: "conflict:" + strings.Join(paths, ","),
				Err:  fmt.Errorf("files %s all manage repo %q; none of them is applied", strings.Join(paths, ", "), name),
			}
			continue
		}
		file := path.Join(dir, files[0].Path)
		o, err := overlay.Parse(file, files[0].Data)
		dr := DesiredRepo{File: file, Overlay: o, Err: err}
		if err != nil {
			sum := sha256.Sum256(files[0].Data)
			dr.Hash = "invalid:" + hex.EncodeToString(sum[:])
		} else {
			dr.Hash = overlay.Hash(o)
		}
		d.Repos[name] = dr
	}
	slices.SortFunc(d.Ignored, func(a, b store.IgnoredFile) int { return strings.Compare(a.Path, b.Path) })
	return d
}

// repoName returns the repo a file path (relative to the managed folder)
// names, or why it names none.
func repoName(p string) (string, vocab.IgnoreReason) {
	if strings.Contains(p, "/") {
		return "", vocab.IgnoredNested
	}
	if strings.HasPrefix(p, ".") {
		return "", vocab.IgnoredHidden
	}
	ext := path.Ext(p)
	if ext != ".yaml" && ext != ".yml" {
		return "", vocab.IgnoredExtension
	}
	name := strings.TrimSuffix(p, ext)
	if name == "" {
		return "", vocab.IgnoredHidden
	}
	return name, ""
}
