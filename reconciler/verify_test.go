package reconciler_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/pgptest"
	"github.com/ca-reconciler/ca-reconciler/metrics"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
)

// signedCommit writes a file and commits it with go-git, signed by key
// (unsigned when key is nil).
func signedCommit(t *testing.T, dir, path, content string, key *openpgp.Entity) {
	t.Helper()
	full := filepath.Join(dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	pgptest.CommitAll(t, dir, "change", key)
}

// An unsigned (or wrongly signed) head is never acted on: the reconciler
// keeps reconciling the last verified revision, reports the refusal, and
// writes nothing from the unverified one.
func TestUnverifiedHeadWritesNothing(t *testing.T) {
	trusted, trustedPub := pgptest.NewKey(t, "trusted")
	stranger, _ := pgptest.NewKey(t, "stranger")
	w := newWorld(t)
	w.customRepo("a", overlay.Overlay{})
	signedCommit(t, w.git.dir, "ca-images-iac/a.yaml", fileA, trusted)
	src, err := gitsource.New(gitsource.Config{URL: w.git.dir, Path: "ca-images-iac", CacheDir: t.TempDir(), Keyring: trustedPub, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(prometheus.NewRegistry(), "test")
	r := reconciler.New(reconciler.Config{Org: "acme.example", Dir: "ca-images-iac"}, src, w.client, zaptest.NewLogger(t), m)
	ctx := t.Context()
	if rep := r.RunOnce(ctx, "start"); rep.Err != nil || len(rep.Writes) != 1 {
		t.Fatalf("signed head: err=%v writes=%v", rep.Err, written(rep))
	}
	for name, key := range map[string]*openpgp.Entity{"unsigned": nil, "signed by an untrusted key": stranger} {
		signedCommit(t, w.git.dir, "ca-images-iac/a.yaml", fileB+"# "+name+"\n", key)
		before := w.updateCalls()
		rep := r.RunOnce(ctx, "webhook")
		if w.updateCalls() != before || len(rep.Writes) != 0 {
			t.Errorf("%s head: wrote %v", name, written(rep))
		}
		if !overlay.Equal(w.live("a"), mustParse(t, fileA)) {
			t.Errorf("%s head changed the repo", name)
		}
		if st := r.Status(); st.Verified {
			t.Errorf("%s head: status says verified", name)
		}
		if v := testutil.ToFloat64(m.SourceVerified); v != 0 {
			t.Errorf("%s head: source_verified = %v, want 0", name, v)
		}
		// Drift against the last verified revision is still put back.
		w.consoleEdit("a", overlay.Overlay{Packages: []string{"console"}})
		if rep := r.RunOnce(ctx, "interval"); len(rep.Writes) != 1 || !overlay.Equal(w.live("a"), mustParse(t, fileA)) {
			t.Errorf("%s head: drift from the verified revision not put back (writes %v)", name, written(rep))
		}
	}
	signedCommit(t, w.git.dir, "ca-images-iac/a.yaml", fileC, trusted)
	if rep := r.RunOnce(ctx, "webhook"); len(rep.Writes) != 1 || !r.Status().Verified || testutil.ToFloat64(m.SourceVerified) != 1 {
		t.Errorf("signed head after refusals: writes %v verified %v", written(rep), r.Status().Verified)
	}
}
