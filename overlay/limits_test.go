package overlay

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// allocated returns the bytes f allocates (counted, not timed).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The hostile files of issue 10, built here rather than committed: each
// ends with a clear error at its line, in a message of bounded size, at a
// bounded cost. Before the limits, the first made 1999 "duplicate package"
// messages quoting 100 KB each (200 MB of output from a 120 KB file), and
// the others were accepted.
func TestHostileFiles(t *testing.T) {
	big := strings.Repeat("x", 100<<10)
	var aliases strings.Builder
	aliases.WriteString("contents:\n  packages:\n    - &big " + big + "\n")
	for range 2000 {
		aliases.WriteString("    - *big\n")
	}
	for _, tc := range []struct {
		name string
		data string
		want []string
		// maxAlloc bounds the bytes Parse allocates.
		maxAlloc uint64
	}{
		{
			name:     "one 100 KB anchored scalar and 2000 aliases",
			data:     aliases.String(),
			want:     []string{"f.yaml:13:7: contents.packages[10]: the file expands to more than 1048576 bytes with its aliases replaced (limit 1 MiB)"},
			maxAlloc: 4 << 20,
		},
		{
			name:     "a 5 MB annotation value",
			data:     "annotations:\n  com.example.blob: " + strings.Repeat("a", 5<<20) + "\n",
			want:     []string{"f.yaml:2:1048564: file is larger than the limit of 1048576 bytes (1 MiB)"},
			maxAlloc: 1 << 20,
		},
		{
			name:     "a 100 KB annotation value",
			data:     "annotations:\n  com.example.blob: " + big + "\n",
			want:     []string{`f.yaml:2:21: annotations.com.example.blob: value "xxxxxxxxxxxxxxxxxxxxxxxx"… (102400 bytes, sha256:8b77ec70310a) is over the limit of 16384 bytes`},
			maxAlloc: 2 << 20,
		},
		{
			name:     "a 1 MB package name",
			data:     "contents:\n  packages: [" + strings.Repeat("p", 1<<20) + "]\n",
			want:     []string{"f.yaml:2:1048567: file is larger than the limit of 1048576 bytes (1 MiB)"},
			maxAlloc: 1 << 20,
		},
		{
			name:     "a 1000-byte package name",
			data:     "contents:\n  packages: [" + strings.Repeat("p", 1000) + "]\n",
			want:     []string{`f.yaml:2:14: contents.packages[0]: "pppppppppppppppppppppppp"… (1000 bytes, sha256:36345489b2ae) is over the limit of 256 bytes`},
			maxAlloc: 1 << 20,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			data := []byte(tc.data)
			n := allocated(func() { _, err = testParser.ParseFile("f.yaml", data) })
			got := strings.Split(fmt.Sprint(err), "\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if len(fmt.Sprint(err)) > 1024 {
				t.Errorf("message is %d bytes", len(fmt.Sprint(err)))
			}
			t.Logf("%d-byte file: Parse allocated %d bytes; message %d bytes", len(data), n, len(fmt.Sprint(err)))
			if n > tc.maxAlloc {
				t.Errorf("Parse allocated %d bytes, want at most %d", n, tc.maxAlloc)
			}
		})
	}
}

// At most MaxProblems problems are reported, then a count of the rest.
func TestProblemsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("contents:\n  packages:\n")
	for range 150 {
		b.WriteString("    - a b\n")
	}
	_, err := Parse("f.yaml", []byte(b.String()))
	ps := err.(Problems)
	if len(ps) != MaxProblems+1 {
		t.Fatalf("%d problems, want %d", len(ps), MaxProblems+1)
	}
	if got, want := ps[MaxProblems].String(), "f.yaml:103:7: 50 more problems not shown"; got != want {
		t.Errorf("last problem %q, want %q", got, want)
	}
}

// The encoded size is a rule of the service (ResourceExhausted over its
// limit), so it holds for overlays not read from a file too.
func TestEncodedSizeLimit(t *testing.T) {
	env := map[string]string{}
	for i := range 1000 {
		env[fmt.Sprintf("V%03d", i)] = strings.Repeat("v", 1100)
	}
	o := Overlay{Environment: env}
	want := []string{"the overlay encodes to 1112000 bytes, over the limit of 1048576 bytes (1 MiB; the API refuses a request over 4 MiB)"}
	if diff := cmp.Diff(want, problemStrings(ServerRules(o))); diff != "" {
		t.Errorf("ServerRules (-want +got):\n%s", diff)
	}
	if EncodedSize(o) != 1112000 {
		t.Errorf("EncodedSize = %d", EncodedSize(o))
	}
}

// A value too long to quote shows no prefix where the prefix may be a
// credential: an environment value, a runtime repository URL.
func TestLongSecretsShowNoPrefix(t *testing.T) {
	secret := "s3cr3t-" + strings.Repeat("k", MaxValueBytes)
	src := "environment:\n  DB_PASSWORD: " + secret + "\ncontents:\n  runtime_repositories: [\"https://user:" + secret + "@apk.example.com\"]\n"
	_, err := Parse("f.yaml", []byte(src))
	msg := fmt.Sprint(err)
	if strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "user") {
		t.Errorf("message shows the secret:\n%s", msg)
	}
	want := []string{
		"f.yaml:2:16: environment.DB_PASSWORD: value " + fingerprint(secret) + " is over the limit of 16384 bytes",
		"f.yaml:4:26: contents.runtime_repositories[0]: " + fingerprint("https://user:"+secret+"@apk.example.com") + " is over the limit of 16384 bytes",
	}
	if diff := cmp.Diff(want, strings.Split(msg, "\n")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
