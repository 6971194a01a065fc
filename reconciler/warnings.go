package reconciler

import (
	"slices"

	"go.uber.org/zap"
)

// recordWarnings logs the warnings of every file of a newly parsed
// revision whose warnings the previous revision did not have (each warning
// once per content of its file, not once per cycle), sets the warnings
// gauge, and returns how many warnings the files hold.
func (r *Reconciler) recordWarnings(prev *Desired, d Desired) int {
	total := 0
	for _, name := range d.sortedNames() {
		dr := d.Repos[name]
		total += len(dr.Warnings)
		if len(dr.Warnings) == 0 {
			continue
		}
		if prev != nil {
			if old, ok := prev.Repos[name]; ok && old.File == dr.File && slices.Equal(warningLines(old.Warnings), warningLines(dr.Warnings)) {
				continue
			}
		}
		r.log.Warn("file has warnings; it is applied", zap.String("repo", name), zap.String("file", dr.File),
			zap.Strings("warnings", warningLines(dr.Warnings)))
	}
	r.metrics.FileWarnings.Set(float64(total))
	return total
}
