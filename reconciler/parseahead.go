package reconciler

import (
	"io/fs"
	"path"
	"runtime"
	"sync"

	"github.com/ca-reconciler/ca-reconciler/internal/boundedread"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// minParseAhead is the number of files to parse below which mapFiles parses
// them one after the other: a push changes a few files, and starting
// workers for them costs more than it saves.
const minParseAhead = 16

// lookup returns the cache key of a file (its path and blob hash; "" when
// the fs.FS does not know blob hashes or there is no cache) and the parse
// the cache holds for it.
func (c *parseCache) lookup(hasher BlobHasher, name, file string) (key string, pr parsed, hit bool) {
	if hasher == nil || c == nil {
		return "", parsed{}, false
	}
	blob, ok := hasher.BlobHash(name)
	if !ok {
		return "", parsed{}, false
	}
	key = cacheKey(file, blob)
	pr, hit = c.entries[key]
	return key, pr, hit
}

// parseAhead parses, on up to GOMAXPROCS goroutines, the files of byRepo
// (of repos that exactly one file names) whose parse the cache does not
// hold, and returns them by path. The files are read one after the other,
// here (a Git tree reads one blob at a time anyway); parsing, where the
// time goes (yaml), runs in parallel: on two cores, 1,000 changed files
// parse in about half the time. At most two files per worker are read and
// not yet parsed at any time, so memory stays bounded by the file size
// limit. A file that cannot be read is left out: mapFiles reads it again
// and reports the error. It returns nil when fewer than minParseAhead files
// need parsing.
func parseAhead(dir string, fsys fs.FS, byRepo map[string][]string, hasher BlobHasher, cache *parseCache) map[string]parsed {
	type job struct{ name, file string }
	var jobs []job
	for _, names := range byRepo {
		if len(names) != 1 {
			continue
		}
		file := path.Join(dir, names[0])
		if _, _, hit := cache.lookup(hasher, names[0], file); !hit {
			jobs = append(jobs, job{names[0], file})
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(jobs)/minParseAhead+1)
	if len(jobs) < minParseAhead || workers < 2 {
		return nil
	}
	type read struct {
		file string
		data []byte
	}
	reads := make(chan read, workers)
	var (
		mu  sync.Mutex
		out = make(map[string]parsed, len(jobs))
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range reads {
				pr := parse(r.file, r.data)
				mu.Lock()
				out[r.file] = pr
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		data, err := boundedread.File(fsys, j.name, overlay.MaxFileBytes)
		if err != nil {
			continue
		}
		reads <- read{j.file, data}
	}
	close(reads)
	wg.Wait()
	return out
}
