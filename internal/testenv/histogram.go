package testenv

import (
	"fmt"
	"strconv"
	"strings"
)

// HistogramText is the text exposition of a histogram without labels, to
// compare a collector against (client_golang's testutil.CollectAndCompare):
// name's HELP and TYPE lines, then per upper bound in bounds the
// cumulative count in counts (as many), the +Inf bucket and the count
// holding count, and the sum.
func HistogramText(name, help string, bounds []float64, counts []uint64, sum float64, count uint64) string {
	if len(bounds) != len(counts) {
		panic(fmt.Sprintf("HistogramText(%s): %d bounds, %d counts", name, len(bounds), len(counts)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	for i, le := range bounds {
		fmt.Fprintf(&b, "%s_bucket{le=%q} %d\n", name, strconv.FormatFloat(le, 'g', -1, 64), counts[i])
	}
	fmt.Fprintf(&b, "%s_bucket{le=\"+Inf\"} %d\n", name, count)
	fmt.Fprintf(&b, "%s_sum %s\n%s_count %d\n", name, strconv.FormatFloat(sum, 'g', -1, 64), name, count)
	return b.String()
}
