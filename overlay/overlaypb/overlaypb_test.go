package overlaypb

import (
	"os"
	"path/filepath"
	"testing"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
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

// roundTrip sends o through the proto message and the wire and back.
func roundTrip(t testing.TB, o overlay.Overlay) overlay.Overlay {
	t.Helper()
	wire, err := proto.Marshal(ToProto(o))
	if err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	var p registryv1.CustomOverlay
	if err := proto.Unmarshal(wire, &p); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
	return FromProto(&p)
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
		if diff := cmp.Diff(overlay.Canonical(o), overlay.Canonical(roundTrip(t, o))); diff != "" {
			t.Fatalf("proto round trip (-want +got):\n%s", diff)
		}
	})
}
