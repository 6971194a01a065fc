package overlaypb

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

func testdata(t testing.TB, pattern string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata for %s: %v", pattern, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

// overWire sends m through the wire: it returns m marshaled and unmarshaled
// into a new message of the same type.
func overWire[M proto.Message](t testing.TB, m M) M {
	t.Helper()
	wire, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	back := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(wire, back); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
	return back
}

// roundTrip sends o through the proto message and the wire and back.
func roundTrip(t testing.TB, o overlay.Overlay) overlay.Overlay {
	t.Helper()
	return FromProto(overWire(t, ToProto(o)))
}

// fuzzParsed seeds f with the good and bad testdata files and calls check
// with every input that Parse accepts.
func fuzzParsed(f *testing.F, check func(t *testing.T, o overlay.Overlay)) {
	for _, pattern := range []string{"good/*.yaml", "bad/*.yaml"} {
		for _, data := range testdata(f, pattern) {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := overlay.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		check(t, o)
	})
}

func TestRoundTripOfGoodFiles(t *testing.T) {
	for file, data := range testdata(t, "good/*.yaml") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			o, err := overlay.Parse(file, data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := overlay.Canonical(o)
			if diff := cmp.Diff(want, overlay.Canonical(FromProto(ToProto(o)))); diff != "" {
				t.Errorf("proto round trip (-want +got):\n%s", diff)
			}
			if got := roundTrip(t, o); overlay.Hash(got) != overlay.Hash(o) {
				t.Errorf("Hash differs after the wire round trip")
			}
		})
	}
}

func TestNilAndEmptyProtoAreTheEmptyOverlay(t *testing.T) {
	if !overlay.Equal(FromProto(nil), FromProto(ToProto(overlay.Overlay{}))) {
		t.Error("FromProto(nil) and FromProto(ToProto(Overlay{})) differ")
	}
	if p := ToProto(overlay.Overlay{}); p == nil || proto.Size(p) != 0 {
		t.Errorf("ToProto(Overlay{}) = %v, want an empty, non-nil message", p)
	}
}

// FuzzRoundTrip checks that any overlay Parse accepts survives the proto
// message on the wire unchanged in canonical form.
func FuzzRoundTrip(f *testing.F) {
	fuzzParsed(f, func(t *testing.T, o overlay.Overlay) {
		if diff := cmp.Diff(overlay.Canonical(o), overlay.Canonical(roundTrip(t, o))); diff != "" {
			t.Fatalf("proto round trip (-want +got):\n%s", diff)
		}
	})
}
