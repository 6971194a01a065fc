package reconciler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ca-reconciler/ca-reconciler/internal/boundedread"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/settings"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// DesiredRepo is what one file (or a conflicting pair of files) asks for.
type DesiredRepo struct {
	// File is the managing file's path in the Git repo. For a conflict it
	// is the first of the conflicting files.
	File string
	// Overlay is the parsed overlay; meaningless when Err is set. It may be
	// shared with other Desired values (the parse cache): read it, never
	// change it.
	Overlay overlay.Overlay
	// Hash is overlay.Hash(Overlay) for a valid file (Compute compares it
	// with the live overlay's hash), and a hash of the content otherwise;
	// a change to the file changes it, which resets the stall counter.
	Hash string
	// Err is why the file cannot be applied: overlay.Problems for a bad
	// file, or a conflict between two files for one repo.
	Err error
	// Warnings are the file's problems of severity warning: the service
	// accepts them and the file is applied. Shared with the parse cache:
	// read them, never change them.
	Warnings overlay.Problems
	// PackagePositions[i] is where contents.packages[i] is in the file
	// (zero when unknown), for the package check's messages; the parse
	// cache keeps no other positions.
	PackagePositions []overlay.Position
}

// Desired is the desired state of one revision.
type Desired struct {
	Revision string
	// Dir is the folder's path in the repository, as given to MapFiles.
	Dir string
	// Repos maps repo name to what its file asks for.
	Repos map[string]DesiredRepo
	// Ignored lists the entries under the folder that manage nothing, with
	// why, sorted by path.
	Ignored []store.IgnoredFile
	// Err is set when the folder could not be read (an entry could not be
	// listed or a file could not be read); Repos is then incomplete and
	// nothing may be written from it.
	Err error
	// Parsed counts the files read and parsed; Reused those whose parse
	// was reused because their blob did not change.
	Parsed, Reused int

	// SettingsFile is the path of the folder's settings file
	// (settings.FileName), "" when the folder has none.
	SettingsFile string
	// Settings is the settings file, parsed: the zero Settings when there
	// is none or it is invalid.
	Settings settings.Settings
	// SettingsErr is why the settings file is invalid (overlay.Problems).
	// A broken file could hide a suspend, so nothing may be written,
	// created or pruned from this revision then.
	SettingsErr error
	// SettingsWarnings are the settings file's warnings: settings for a
	// repo that no file names.
	SettingsWarnings overlay.Problems
	// EverPaths are the names of the files that any commit of the
	// revision's history held directly in the folder
	// (gitsource.Snapshot.EverPaths): which repos a file ever named, for
	// pruning. Nil when the history is not read.
	EverPaths []string

	// names are the keys of Repos, sorted (set by MapFiles).
	names []string
}

// sortedNames returns the repo names in order.
func (d Desired) sortedNames() []string {
	if len(d.names) == len(d.Repos) {
		return d.names
	}
	return slices.Sorted(maps.Keys(d.Repos))
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

// BlobHasher is an fs.FS that knows the content hash of its files without
// reading them (gitsource's commit tree: the Git blob id). MapFiles reuses
// the parse of a file whose hash it has seen.
type BlobHasher interface {
	BlobHash(name string) (string, bool)
}

// MapFiles turns the folder fsys (the managed folder of one revision) into
// desired state. dir is the folder's path in the repository, for messages.
// A regular file NAME.yaml or NAME.yml directly in the folder manages repo
// NAME; every other entry is ignored with a reason (nested folders, other
// extensions, hidden files, symbolic links, which are never followed,
// submodules, which fsys marks fs.ModeIrregular, and anything else that is
// not a regular file). Two files naming one repo are both errors and
// neither is applied.
func MapFiles(dir string, fsys fs.FS) Desired {
	return mapFiles(dir, fsys, nil)
}

// parsed is one file's parse, as the cache keeps it: the raw bytes are
// dropped once parsed.
type parsed struct {
	overlay  overlay.Overlay
	hash     string
	err      error
	warnings overlay.Problems
	// packagePos are the positions of contents.packages[i].
	packagePos []overlay.Position
}

// parseCache keeps the parse of every file of the last mapped revision, by
// path and blob hash, so that a new revision reads and parses only the
// files whose blob changed. It holds the entries of one revision, so it is
// bounded by the number of files; entries of files that changed or went
// away are dropped at the next mapping.
type parseCache struct {
	entries  map[string]parsed // path + "\x00" + blob hash
	settings parsedSettings    // the settings file's, when it has a blob hash
}

func cacheKey(p, blob string) string { return p + "\x00" + blob }

// entry is a candidate file: a regular file directly in the folder.
type entry struct {
	name string // relative to the folder
	repo string
}

func mapFiles(dir string, fsys fs.FS, cache *parseCache) Desired {
	d := Desired{Dir: dir, Repos: map[string]DesiredRepo{}}
	var files []entry
	hasSettings := false
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if why := ignoreType(e.Type()); why != "" {
			d.Ignored = append(d.Ignored, store.IgnoredFile{Path: path.Join(dir, p), Reason: why})
			return nil
		}
		if e.IsDir() {
			return nil // walked into: its files are nested
		}
		if p == settings.FileName {
			hasSettings = true // not an overlay, and not ignored either
			return nil
		}
		repo, why := repoName(p)
		if why != "" {
			d.Ignored = append(d.Ignored, store.IgnoredFile{Path: path.Join(dir, p), Reason: why})
			return nil
		}
		files = append(files, entry{name: p, repo: repo})
		return nil
	})
	if err != nil {
		d.Err = fmt.Errorf("reading %s: %w", dir, err)
		return d
	}
	slices.SortFunc(d.Ignored, func(a, b store.IgnoredFile) int { return strings.Compare(a.Path, b.Path) })

	byRepo := map[string][]string{}
	for _, f := range files {
		byRepo[f.repo] = append(byRepo[f.repo], f.name)
	}
	hasher, _ := fsys.(BlobHasher)
	ahead := parseAhead(dir, fsys, byRepo, hasher, cache)
	next := map[string]parsed{}
	for name, names := range byRepo {
		if len(names) > 1 {
			paths := make([]string, len(names))
			for i, n := range names {
				paths[i] = path.Join(dir, n)
			}
			sort.Strings(paths)
			d.Repos[name] = DesiredRepo{
				File: paths[0],
				Hash: "conflict:" + strings.Join(paths, ","),
				Err:  fmt.Errorf("files %s all manage repo %q; none of them is applied", strings.Join(paths, ", "), name),
			}
			continue
		}
		file := path.Join(dir, names[0])
		key, pr, hit := cache.lookup(hasher, names[0], file)
		if hit {
			d.Reused++
		} else if p, ok := ahead[file]; ok {
			pr = p
			d.Parsed++
		} else {
			data, err := boundedread.File(fsys, names[0], overlay.MaxFileBytes)
			if err != nil {
				d.Err = fmt.Errorf("reading %s: %w", file, err)
				return d
			}
			pr = parse(file, data)
			d.Parsed++
		}
		if key != "" {
			next[key] = pr
		}
		d.Repos[name] = DesiredRepo{File: file, Overlay: pr.overlay, Hash: pr.hash, Err: pr.err, Warnings: pr.warnings, PackagePositions: pr.packagePos}
	}
	if cache != nil {
		cache.entries = next
	}
	if hasSettings {
		if err := readSettings(&d, fsys, hasher, cache); err != nil {
			d.Err = err
			return d
		}
	}
	d.names = slices.Sorted(maps.Keys(d.Repos))
	return d
}

// parse parses one file, keeping its warnings and the positions of its
// packages; data is not kept.
func parse(file string, data []byte) parsed {
	p, err := overlay.ParseFile(file, data)
	if err != nil {
		sum := sha256.Sum256(data)
		return parsed{err: err, hash: "invalid:" + hex.EncodeToString(sum[:]), warnings: p.Warnings}
	}
	var pos []overlay.Position
	if n := len(p.Overlay.Packages); n > 0 {
		pos = make([]overlay.Position, n)
		for i := range pos {
			pos[i] = p.Positions[PackageField(i)]
		}
	}
	return parsed{overlay: p.Overlay, hash: overlay.Hash(p.Overlay), warnings: p.Warnings, packagePos: pos}
}

// overlay returns the overlay a valid file asks for repo, to share with an
// equal live one (chainguard.ShareOverlays).
func (d *Desired) overlay(repo string) (overlay.Overlay, bool) {
	r, ok := d.Repos[repo]
	if !ok || r.Err != nil {
		return overlay.Overlay{}, false
	}
	return r.Overlay, true
}

// PackageField is the field path of the i-th package of a file, as
// problems name it: "contents.packages[1]".
func PackageField(i int) string { return "contents.packages[" + strconv.Itoa(i) + "]" }

// ignoreType is why an entry of this type manages nothing, or "" for a
// regular file or a folder.
func ignoreType(m fs.FileMode) vocab.IgnoreReason {
	switch {
	case m&fs.ModeSymlink != 0:
		return vocab.IgnoredSymlink
	case m&fs.ModeIrregular != 0:
		// gitsource marks submodules (gitlinks) this way.
		return vocab.IgnoredSubmodule
	case m.IsDir(), m.IsRegular():
		return ""
	}
	return vocab.IgnoredIrregular
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
	return strings.TrimSuffix(p, ext), ""
}
