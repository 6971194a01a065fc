package overlay

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that every problem it reports is
// placed, and that any overlay it accepts passes Validate and round-trips
// through Marshal/Parse (overlaypb fuzzes the proto round trip).
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/good/*.yaml", "testdata/bad/*.yaml"} {
		for _, file := range glob(f, pattern) {
			f.Add(readFile(f, file))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error %T %v is not a non-empty Problems", err, err)
			}
			for _, p := range ps {
				if p.File != "fuzz.yaml" || p.Line < 1 || p.Message == "" {
					t.Errorf("problem without place or message: %#v", p)
				}
			}
			return
		}
		if o.IsZero() != Equal(o, Overlay{}) {
			t.Fatalf("IsZero = %v disagrees with Equal(o, Overlay{})", o.IsZero())
		}
		_, back := checkRoundTrip(t, o)
		if !Equal(o, back) || Hash(o) != Hash(back) || len(Diff(o, back)) != 0 {
			t.Fatalf("Equal, Hash or Diff disagree with the round trip")
		}
	})
}
