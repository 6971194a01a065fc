package reconciler

import (
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// BenchmarkRecordInSync is record in an idle cycle at 5,000 repos: every
// repo in sync, written once and built once, nothing changes. Its allocs/op
// are what each idle cycle costs the garbage collector.
func BenchmarkRecordInSync(b *testing.B) {
	const n = 5000
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	st := store.New()
	plan := Plan{Revision: "r"}
	for i := range n {
		name := fmt.Sprintf("repo-%04d", i)
		c := Change{Repo: name, RepoID: "org/" + name, File: "ca-images-iac/" + name + ".yaml", Action: vocab.ActionNoop, DesiredHash: "h", LiveHash: "h"}
		plan.Changes = append(plan.Changes, c)
		st.PutRepo(store.RepoState{Repo: name, RepoID: c.RepoID, File: c.File, Status: vocab.StatusSynced, DesiredHash: "h", LiveHash: "h", LastWrite: &at})
		st.RecordBuild(name, store.BuildInfo{ID: "b", Result: vocab.BuildSuccess, Finished: at})
	}
	r := &Reconciler{clock: clockwork.NewFakeClockAt(at), store: st}
	b.ReportAllocs()
	for b.Loop() {
		if got := r.record(plan, nil, at); got != 0 {
			b.Fatalf("%d events in an idle cycle", got)
		}
	}
}
