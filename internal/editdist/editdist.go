// Package editdist measures how far apart two names are, for the "did you
// mean" hints of the overlay parser and the package check: the optimal
// string alignment distance (insertions, deletions, substitutions and swaps
// of neighbours), in bytes, with a limit past which it stops counting.
package editdist

// Within is the optimal string alignment distance of a and b, or limit+1
// when that distance is larger than limit.
func Within(a, b string, limit int) int {
	if len(a)-len(b) > limit || len(b)-len(a) > limit {
		return limit + 1 // the distance is at least the difference in length
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		// A row's least value never falls in the rows below it (a swap
		// reaches back two rows, but costs one more than the row it
		// skips could), so past the limit the distance is too.
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit+1)
}
