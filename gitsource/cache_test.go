package gitsource

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUnusableCacheFolders: whatever sits where the cache should be, a Fetch
// replaces it with a fresh clone, and says so in the log.
func TestUnusableCacheFolders(t *testing.T) {
	root := os.Geteuid() == 0
	for _, tc := range []struct {
		name     string
		break_   func(t *testing.T, cacheDir string)
		running  bool // break the cache of a Source that already fetched
		log      string
		needUser bool // permissions mean nothing to root
	}{
		{"cache folder is a file", func(t *testing.T, d string) { replaceWithFile(t, d) }, false,
			"cache folder is not a folder; replacing it", false},
		{"clone is a file", func(t *testing.T, d string) { replaceWithFile(t, filepath.Join(d, repoDirName)) }, false,
			"cache is unusable; removing it and cloning again", false},
		{"cache folder becomes a file", func(t *testing.T, d string) { replaceWithFile(t, d) }, true,
			"cache folder is not a folder; replacing it", false},
		{"clone becomes a file", func(t *testing.T, d string) { replaceWithFile(t, filepath.Join(d, repoDirName)) }, true,
			"fetching into the cache failed; cloning afresh", false},
		{"cache folder without permissions", func(t *testing.T, d string) { chmod(t, d, 0) }, true,
			"cache folder lacks permissions; restoring them", true},
		{"clone without permissions", func(t *testing.T, d string) { chmod(t, filepath.Join(d, repoDirName), 0) }, false,
			"cache is unusable; removing it and cloning again", true},
		{"clone's objects without permissions", func(t *testing.T, d string) { chmod(t, filepath.Join(d, repoDirName, "objects"), 0) }, true,
			"fetching into the cache failed; cloning afresh", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needUser && root {
				t.Skip("running as root, which permissions do not stop")
			}
			up := newUpstream(t, seedFiles)
			cache := filepath.Join(t.TempDir(), "cache")
			if !tc.running {
				if err := os.MkdirAll(cache, 0o750); err != nil {
					t.Fatal(err)
				}
				first, _ := newTestSource(t, Config{URL: up.dir, CacheDir: cache})
				fetch(t, first)
			}
			s, logs := newTestSource(t, Config{URL: up.dir, Path: "ca-images-iac", CacheDir: cache})
			if tc.running {
				fetch(t, s)
			}
			tc.break_(t, cache)
			head := up.commit("next", map[string]string{"ca-images-iac/next.yaml": "n\n"})
			snap, _ := fetch(t, s)
			if snap.Revision != head || len(files(snap)) != 4 {
				t.Errorf("snapshot %s with %d files, want %s with 4", snap.Revision, len(files(snap)), head)
			}
			if !hasLog(logs, tc.log) {
				t.Errorf("no log line %q", tc.log)
			}
			if fi, err := os.Stat(filepath.Join(cache, repoDirName)); err != nil || !fi.IsDir() {
				t.Errorf("no clone in the cache folder: %v", err)
			}
		})
	}
}

// TestCacheFolderUnfixable: a cache folder under a file cannot be made; the
// error names the folder and the setting.
func TestCacheFolderUnfixable(t *testing.T) {
	up := newUpstream(t, seedFiles)
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, "x")
	s, _ := newTestSource(t, Config{URL: up.dir, CacheDir: filepath.Join(file, "cache"), Names: map[Field]string{FieldCacheDir: "--cache-dir"}})
	err := fetchErr(t, s)
	want := "cache folder " + file + "/cache (--cache-dir) is not usable: stat " + file + "/cache: not a directory"
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(path, 0o755) })
}

func replaceWithFile(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "not a folder")
}
