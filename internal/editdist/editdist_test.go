package editdist_test

import (
	"testing"

	"github.com/ca-reconciler/ca-reconciler/internal/editdist"
)

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		a, b  string
		limit int
		want  int
	}{
		{"", "", 3, 0},
		{"nginx", "nginx", 3, 0},
		{"ngnix", "nginx", 3, 1}, // a swap of neighbours counts once
		{"pakages", "packages", 3, 1},
		{"kitten", "sitting", 3, 3},
		{"kitten", "sitting", 2, 3}, // past the limit: limit+1
		{"mongo-7.0", "mongo-8.0", 3, 1},
		{"abc", "", 5, 3},
		{"", "abcd", 2, 3},
		{"ca", "abc", 5, 3}, // optimal string alignment, not Damerau: no edit of a swapped pair
	} {
		if got := editdist.Within(c.a, c.b, c.limit); got != c.want {
			t.Errorf("Within(%q, %q, %d) = %d, want %d", c.a, c.b, c.limit, got, c.want)
		}
	}
}

// TestWithinSymmetric checks that the distance does not depend on the
// order of its arguments, with and without a limit that cuts it short.
func TestWithinSymmetric(t *testing.T) {
	words := []string{"", "a", "ab", "ba", "packages", "pakcages", "environment", "envirnoment", "mongo-8.0", "redis"}
	for _, a := range words {
		for _, b := range words {
			for _, limit := range []int{1, 2, 20} {
				if x, y := editdist.Within(a, b, limit), editdist.Within(b, a, limit); x != y {
					t.Errorf("Within(%q, %q, %d) = %d but Within(%q, %q, %d) = %d", a, b, limit, x, b, a, limit, y)
				}
			}
		}
	}
}
