package reconciler

import (
	"fmt"
	"io/fs"
	"path"

	"github.com/ca-reconciler/ca-reconciler/internal/boundedread"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/settings"
)

// parsedSettings is the settings file's parse, as the cache keeps it.
type parsedSettings struct {
	key string // path + "\x00" + blob hash; "" when not cached
	s   settings.Settings
	err error
}

// readSettings reads and parses the folder's settings file into d (its
// parse reused while its blob does not change), and warns about every
// setting for a repo that no file of d names. The error is a read error
// (the file could not be read at all), which makes the whole folder
// unreadable, as for an overlay file.
func readSettings(d *Desired, fsys fs.FS, hasher BlobHasher, cache *parseCache) error {
	file := path.Join(d.Dir, settings.FileName)
	d.SettingsFile = file
	key := ""
	if hasher != nil && cache != nil {
		if blob, ok := hasher.BlobHash(settings.FileName); ok {
			key = cacheKey(file, blob)
		}
	}
	var ps parsedSettings
	if key != "" && cache.settings.key == key {
		ps = cache.settings
	} else {
		data, err := boundedread.File(fsys, settings.FileName, settings.MaxSize)
		if err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
		s, err := settings.Parse(file, data)
		ps = parsedSettings{key: key, s: s, err: err}
		if cache != nil {
			cache.settings = ps
		}
	}
	if ps.err != nil {
		d.SettingsErr = ps.err
		return nil
	}
	d.Settings = ps.s
	for _, name := range ps.s.Names() {
		if _, ok := d.Repos[name]; ok {
			continue
		}
		r := ps.s.Repo(name)
		d.SettingsWarnings = append(d.SettingsWarnings, overlay.Problem{
			Severity: overlay.SeverityWarning, File: file, Line: r.Line, Column: r.Column, Field: "repos." + name,
			Message: fmt.Sprintf("no file %s.yaml or %s.yml in %s names this repo", name, name, d.Dir),
		})
	}
	return nil
}
