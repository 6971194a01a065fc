package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime 250 and stime 30 ticks.
	got, err := parseStat("4242 (ca re(con)ciler) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 9 0 100 1000 200")
	if err != nil {
		t.Fatal(err)
	}
	if want := 2800 * time.Millisecond; got != want {
		t.Errorf("parseStat = %v, want %v", got, want)
	}
	if _, err := parseStat("garbage"); err == nil || err.Error() != `unexpected /proc stat "garbage"` {
		t.Errorf("parseStat(garbage) error %v", err)
	}
}

func TestParseRSS(t *testing.T) {
	got, err := parseRSS("Name:\tca-reconciler\nVmPeak:\t  900 kB\nVmRSS:\t   65536 kB\nThreads:\t9\n")
	if err != nil || got != 64<<20 {
		t.Errorf("parseRSS = %d, %v; want %d", got, err, 64<<20)
	}
	if _, err := parseRSS("Name:\tx\n"); err == nil || err.Error() != "no VmRSS in /proc status" {
		t.Errorf("parseRSS without VmRSS: error %v", err)
	}
}

func TestMetrics(t *testing.T) {
	m := parseMetrics(`# HELP ca_reconciler_api_requests_total x
# TYPE ca_reconciler_api_requests_total counter
ca_reconciler_api_requests_total{code="OK",method="ListRepos"} 7
ca_reconciler_api_requests_total{code="OK",method="UpdateRepo"} 3
ca_reconciler_api_requests_total{code="Unavailable",method="ListRepos"} 1
ca_reconciler_repo_drifted{repo="repo-0001"} 0
ca_reconciler_repo_status{repo="repo-0001",status="synced"} 1
go_goroutines 12
`)
	for _, tc := range []struct {
		name, match string
		want        float64
	}{
		{"ca_reconciler_api_requests_total", `ListRepos"`, 8},
		{"ca_reconciler_api_requests_total", "", 11},
		{"go_goroutines", "", 12},
		{"ca_reconciler_api", "", 0}, // a prefix is not a name
	} {
		if got := sum(m, tc.name, tc.match); got != tc.want {
			t.Errorf("sum(%s, %q) = %v, want %v", tc.name, tc.match, got, tc.want)
		}
	}
	if got := series(m, "ca_reconciler_", `repo="repo-0001"`); got != 2 {
		t.Errorf("series of repo-0001 = %d, want 2", got)
	}
}

func TestPct(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.9, 9}, {1, 10}, {0, 1}} {
		if got := pct(d, tc.q); got != tc.want {
			t.Errorf("pct(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := pct(nil, 0.5); got != 0 {
		t.Errorf("pct(nil) = %v", got)
	}
}

func TestInts(t *testing.T) {
	got, err := ints("500, 1000,5000")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int{500, 1000, 5000}, got); d != "" {
		t.Errorf("ints (-want +got):\n%s", d)
	}
	for in, want := range map[string]string{
		"1,x":   `"x" is not a positive number`,
		"0":     `"0" is not a positive number`,
		"100,5": `"100,5": numbers must increase`,
	} {
		if _, err := ints(in); err == nil || err.Error() != want {
			t.Errorf("ints(%q) error %v, want %q", in, err, want)
		}
	}
}

func TestListeningURL(t *testing.T) {
	for line, want := range map[string]string{
		"emulator listening on http://127.0.0.1:37507 (events issuer http://127.0.0.1:37507)": "http://127.0.0.1:37507",
		"emulator listening on http://127.0.0.1:1":                                            "http://127.0.0.1:1",
		"seed applied": "",
	} {
		got, ok := listeningURL(line)
		if got != want || ok != (want != "") {
			t.Errorf("listeningURL(%q) = %q, %v; want %q", line, got, ok, want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tca-reconciler\nVmHWM:\t  99168 kB\nVmRSS:\t   66376 kB\nRssAnon:\t   38448 kB\nRssFile:\t   27928 kB\n"
	for field, want := range map[string]int64{"VmHWM": 99168 << 10, "RssAnon": 38448 << 10, "RssFile": 27928 << 10} {
		if got, err := parseStatus(status, field); err != nil || got != want {
			t.Errorf("parseStatus(%s) = %d, %v; want %d", field, got, err, want)
		}
	}
	if _, err := parseStatus(status, "RssShmem"); err == nil || err.Error() != "no RssShmem in /proc status" {
		t.Errorf("parseStatus(RssShmem) error %v", err)
	}
}

func TestCountCache(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"objects/pack/pack-1.pack", "objects/pack/pack-1.idx", "objects/pack/pack-2.pack", "objects/ab/cdef", "objects/12/3456", "objects/12/7890", "refs/heads/main", "HEAD"} {
		p := filepath.Join(dir, "0123", filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := countCache(dir)
	if err != nil || got != (cacheFiles{packs: 2, loose: 3}) {
		t.Errorf("countCache = %+v, %v; want 2 packs and 3 loose objects", got, err)
	}
}

func TestMarks(t *testing.T) {
	e := env{o: options{sizes: []int{500, 5000}, cycles: []int{1, 100}, long: 1000}}
	if d := cmp.Diff([]int{1, 100}, e.marks(500)); d != "" {
		t.Errorf("marks(500) (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{1, 100, 1000}, e.marks(5000)); d != "" {
		t.Errorf("marks(5000) (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{1, 100, 1000}, allMarks(e.o)); d != "" {
		t.Errorf("allMarks (-want +got):\n%s", d)
	}
	e.o.long = 0
	if d := cmp.Diff([]int{1, 100}, e.marks(5000)); d != "" {
		t.Errorf("marks(5000) without -long (-want +got):\n%s", d)
	}
}

// BENCHMARKS.md ends with cmd/bench/notes.md as `bench notes` (and every
// run) writes it: the notes have one source.
func TestBenchmarksCarryTheNotes(t *testing.T) {
	report, err := os.ReadFile(filepath.Join("..", "..", "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile("notes.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := withNotes(string(report), notes); string(report) != want {
		t.Errorf("BENCHMARKS.md does not end with notes.md; run go run ./cmd/bench notes")
	}
}

func TestWithNotes(t *testing.T) {
	head := "# Report\n\n| a | b |\n" + microLine[1:] + " (`go test`) cover parsing.\n"
	for _, tc := range []struct {
		name, report, notes, want string
	}{
		{"notes replaced", head + "\nold notes\n", "new notes\n", head + "\nnew notes\n"},
		{"notes added", head, "new notes\n", head + "\nnew notes\n"},
		{"notes removed", head + "\nold notes\n", "", head},
		{"no micro line", "# Report\n", "new notes\n", "# Report\n\nnew notes\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withNotes(tc.report, []byte(tc.notes)); got != tc.want {
				t.Errorf("withNotes:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
