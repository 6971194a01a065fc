package overlay_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

// EncodedSize is exactly proto.Size of the message overlaypb sends, for
// every good file and for values that need long varints. (This external
// test may import overlaypb; package overlay itself imports no SDK type.)
func TestEncodedSize(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good files: %v", err)
	}
	cases := map[string]overlay.Overlay{
		"empty": {},
		"long values": {
			Packages:    []string{"", strings.Repeat("p", 200)},
			Environment: map[string]string{"A": strings.Repeat("v", 20000), "": ""},
			Accounts: overlay.Accounts{Users: []overlay.User{{UserName: "u", UID: 1 << 31, GID: new(uint32)}},
				Groups: []overlay.Group{{GroupName: "g", Members: []string{"", "x"}}}},
			Certificates: []overlay.NamedContent{{Name: "c", Content: strings.Repeat("c", 70000)}},
		},
		"only providers": {CertificateProviders: []string{"ca-certificates-bundle"}},
		"only run-as":    {Accounts: overlay.Accounts{RunAs: "nonroot"}},
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		o, err := overlay.Parse(f, data)
		if err != nil {
			t.Fatal(err)
		}
		cases[filepath.Base(f)] = o
	}
	for name, o := range cases {
		if got, want := overlay.EncodedSize(o), proto.Size(overlaypb.ToProto(o)); got != want {
			t.Errorf("%s: EncodedSize = %d, proto.Size = %d", name, got, want)
		}
	}
}
