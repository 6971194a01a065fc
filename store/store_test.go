package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestPutKeepsTheRecordedBuild(t *testing.T) {
	s := store.New()
	if s.RecordBuild("web", store.BuildInfo{ID: "b0"}) {
		t.Errorf("RecordBuild of an unknown repo reported true")
	}
	s.PutRepo(store.RepoState{Repo: "web", RepoID: "org/web", Status: vocab.StatusDrifted})
	b := store.BuildInfo{ID: "b1", Result: vocab.BuildFailure, Finished: t0, Seconds: 12}
	if !s.RecordBuild("web", b) {
		t.Fatalf("RecordBuild of a known repo reported false")
	}
	// The reconciler writes its next state without a build: the build stays.
	s.PutRepo(store.RepoState{Repo: "web", RepoID: "org/web", Status: vocab.StatusSynced, LastBuild: &store.BuildInfo{ID: "ignored"}})
	got, ok := s.Repo("web")
	want := store.RepoState{Repo: "web", RepoID: "org/web", Status: vocab.StatusSynced, LastBuild: &b}
	if !ok {
		t.Fatal("web not stored")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("web (-want +got):\n%s", diff)
	}
	// A new repo never brings a build of its own.
	s.PutRepo(store.RepoState{Repo: "api", LastBuild: &b})
	if got, _ := s.Repo("api"); got.LastBuild != nil {
		t.Errorf("a new repo's build came from PutRepo: %+v", got.LastBuild)
	}
}

// Step hands the stored state to the transition and stores what it
// returns: a new repo starts from the zero state, the build the watcher
// recorded is kept, and what the step returns is copied, not shared.
func TestStep(t *testing.T) {
	s := store.New()
	var calls int
	s.Step("web", func(prev store.RepoState, ok bool) store.RepoState {
		calls++
		if ok || !prev.Equal(store.RepoState{}) {
			t.Errorf("a new repo's prev = %+v, %v; want the zero state, false", prev, ok)
		}
		return store.RepoState{Repo: "web", RepoID: "org/web", Status: vocab.StatusDrifted, LastBuild: &store.BuildInfo{ID: "ignored"}}
	})
	if got, _ := s.Repo("web"); got.LastBuild != nil {
		t.Errorf("a new repo's build came from Step: %+v", got.LastBuild)
	}
	b := store.BuildInfo{ID: "b1", Result: vocab.BuildSuccess, Finished: t0}
	if !s.RecordBuild("web", b) {
		t.Fatal("web was not stored by Step")
	}
	diff := []string{"+ package curl"}
	s.Step("web", func(prev store.RepoState, ok bool) store.RepoState {
		calls++
		if !ok || prev.Status != vocab.StatusDrifted || prev.LastBuild == nil || prev.LastBuild.ID != "b1" {
			t.Errorf("prev = %+v, %v; want drifted with build b1", prev, ok)
		}
		prev.Status, prev.Diff, prev.RepoID = vocab.StatusSynced, diff, "org/web2"
		prev.LastBuild = &store.BuildInfo{ID: "stale"} // the watcher's build stays
		return prev
	})
	diff[0] = "changed by the caller"
	got, _ := s.Repo("web")
	want := store.RepoState{Repo: "web", RepoID: "org/web2", Status: vocab.StatusSynced, Diff: []string{"+ package curl"}, LastBuild: &b}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("web (-want +got):\n%s", d)
	}
	if diff := cmp.Diff(map[string]string{"org/web2": "web"}, s.RepoIDs()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	// A step that changes nothing leaves the stored state as it was, and
	// copies nothing.
	s.Step("web", func(prev store.RepoState, _ bool) store.RepoState { calls++; return prev })
	if again, _ := s.Repo("web"); !again.Equal(want) {
		t.Errorf("after a step with no change: %+v", again)
	}
	if n := testing.AllocsPerRun(10, func() {
		s.Step("web", func(prev store.RepoState, _ bool) store.RepoState { return prev })
	}); n != 0 {
		t.Errorf("a step with no change allocated %v times, want 0", n)
	}
	if calls != 3 {
		t.Errorf("%d steps ran, want 3", calls)
	}
	// A state is stored under the name stepped, even one that names no repo.
	s.Step("api", func(prev store.RepoState, _ bool) store.RepoState { return prev })
	if got, ok := s.Repo("api"); !ok || got.Repo != "api" || s.Len() != 2 {
		t.Errorf("a nameless step of api: %+v, %v, %d repos; want api stored, 2 repos", got, ok, s.Len())
	}
}

func TestRepoIDs(t *testing.T) {
	s := store.New()
	s.PutRepo(store.RepoState{Repo: "web", RepoID: "org/1"})
	s.PutRepo(store.RepoState{Repo: "api", RepoID: "org/2"})
	s.PutRepo(store.RepoState{Repo: "ghost"}) // missing: no id
	s.PutRepo(store.RepoState{Repo: "web", RepoID: "org/3"})
	if diff := cmp.Diff(map[string]string{"org/2": "api", "org/3": "web"}, s.RepoIDs()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if name, ok := s.RepoName("org/3"); !ok || name != "web" {
		t.Errorf("RepoName(org/3) = %q %v", name, ok)
	}
	if _, ok := s.RepoName("org/1"); ok {
		t.Errorf("the old id of web is still known")
	}
	gone := s.Retain(func(name string) bool { return name == "ghost" })
	if diff := cmp.Diff([]store.RepoState{{Repo: "api", RepoID: "org/2"}, {Repo: "web", RepoID: "org/3"}}, gone); diff != "" {
		t.Errorf("retain returned (-want +got):\n%s", diff)
	}
	if n := len(s.RepoIDs()); n != 0 || s.Len() != 1 {
		t.Errorf("after retain: %d ids, %d repos; want 0 and 1", n, s.Len())
	}
}

// Nothing the store hands out shares memory with it.
func TestCopies(t *testing.T) {
	s := store.New()
	since := t0
	s.PutRepo(store.RepoState{Repo: "web", Diff: []string{"+ package curl"}, DriftSince: &since})
	s.RecordBuild("web", store.BuildInfo{ID: "b1"})
	s.Update(func(h *store.Status) {
		h.Ignored = []store.IgnoredFile{{Path: "README.md", Reason: vocab.IgnoredExtension}}
		h.LastCycle = &store.CycleInfo{Result: vocab.CycleSuccess}
	})
	since = since.Add(time.Hour) // the caller's variable is not the store's
	st := s.Status()
	st.Repos[0].Diff[0] = "changed"
	*st.Repos[0].DriftSince = time.Time{}
	st.Repos[0].LastBuild.ID = "changed"
	st.Ignored[0].Path = "changed"
	st.LastCycle.Result = vocab.CycleError
	again := s.Status()
	want := store.Status{
		Verified:  true,
		LastCycle: &store.CycleInfo{Result: vocab.CycleSuccess},
		Ignored:   []store.IgnoredFile{{Path: "README.md", Reason: vocab.IgnoredExtension}},
		Repos:     []store.RepoState{{Repo: "web", Diff: []string{"+ package curl"}, DriftSince: &t0, LastBuild: &store.BuildInfo{ID: "b1"}}},
	}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("status after the caller changed its copy (-want +got):\n%s", diff)
	}
}

func TestStatusSortsRepos(t *testing.T) {
	s := store.New()
	for _, n := range []string{"c", "a", "b"} {
		s.PutRepo(store.RepoState{Repo: n})
	}
	var got []string
	for _, r := range s.Status().Repos {
		got = append(got, r.Repo)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestEqual(t *testing.T) {
	a, b := t0, t0
	base := store.RepoState{Repo: "web", Status: vocab.StatusDrifted, Diff: []string{"x"}, DriftSince: &a, LastBuild: &store.BuildInfo{ID: "1", Finished: t0}}
	same := store.RepoState{Repo: "web", Status: vocab.StatusDrifted, Diff: []string{"x"}, DriftSince: &b, LastBuild: &store.BuildInfo{ID: "1", Finished: t0}}
	if !base.Equal(same) {
		t.Errorf("equal states with different pointers are not Equal")
	}
	for name, other := range map[string]func(s store.RepoState) store.RepoState{
		"status":      func(s store.RepoState) store.RepoState { s.Status = vocab.StatusSynced; return s },
		"diff":        func(s store.RepoState) store.RepoState { s.Diff = []string{"y"}; return s },
		"drift since": func(s store.RepoState) store.RepoState { s.DriftSince = nil; return s },
		"last write":  func(s store.RepoState) store.RepoState { s.LastWrite = &a; return s },
		"writes of":   func(s store.RepoState) store.RepoState { s.WritesOf = "h"; return s },
		"build":       func(s store.RepoState) store.RepoState { s.LastBuild = &store.BuildInfo{ID: "2"}; return s },
		"live hash":   func(s store.RepoState) store.RepoState { s.LiveHash = "l"; return s },
		"warnings":    func(s store.RepoState) store.RepoState { s.Warnings = []string{"w"}; return s },
		"unknown":     func(s store.RepoState) store.RepoState { s.UnknownFields = 2; return s },
		"refused":     func(s store.RepoState) store.RepoState { s.CheckRefused = true; return s },
		"check notes": func(s store.RepoState) store.RepoState { s.CheckNotes = []string{"n"}; return s },
		"held":        func(s store.RepoState) store.RepoState { s.Held = vocab.HoldSuspended; return s },
		"would":       func(s store.RepoState) store.RepoState { s.Would = vocab.ActionPrune; return s },
	} {
		if base.Equal(other(same)) {
			t.Errorf("states differing in %s are Equal", name)
		}
	}
}

func TestUnknownFieldsNote(t *testing.T) {
	for n, want := range map[int]string{
		0: "",
		1: "the live overlay holds 1 field(s) this version does not know; they are kept",
		3: "the live overlay holds 3 field(s) this version does not know; they are kept",
	} {
		if got := store.UnknownFieldsNote(n); got != want {
			t.Errorf("UnknownFieldsNote(%d) = %q, want %q", n, got, want)
		}
	}
}

// The reconciler, the build watcher and the page use the store at once.
func TestConcurrentUse(t *testing.T) {
	s := store.New()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				name := string(rune('a' + (i+j)%5))
				s.PutRepo(store.RepoState{Repo: name, RepoID: "org/" + name})
				s.Step(name, func(prev store.RepoState, _ bool) store.RepoState { prev.Writes = j; return prev })
				s.RecordBuild(name, store.BuildInfo{ID: name})
				_ = s.Status()
				_ = s.RepoIDs()
				s.Retain(func(n string) bool { return n != "e" })
			}
		}()
	}
	wg.Wait()
	if s.Len() > 4 {
		t.Errorf("%d repos, want at most 4 (e is always removed)", s.Len())
	}
}
