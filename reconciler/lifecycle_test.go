package reconciler

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/settings"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

const settingsFile = "ca-images-iac/.ca-reconciler.yaml"

func mustSettings(t *testing.T, src string) settings.Settings {
	t.Helper()
	s, err := settings.Parse(settingsFile, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lifecycleRow is what TestLifecycle compares of each change.
type lifecycleRow struct {
	Action        vocab.Action
	File          string
	Source        string
	Would         vocab.Action
	Held          vocab.HoldReason
	Diff          []string
	Err           string
	SourceRefused bool
}

func rows(p Plan) map[string]lifecycleRow {
	out := map[string]lifecycleRow{}
	for _, c := range p.Changes {
		out[c.Repo] = lifecycleRow{Action: c.Action, File: c.File, Source: c.Source, Would: c.Would, Held: c.Held, Diff: diffStrings(c.Diff), Err: errText(c.Err), SourceRefused: c.SourceRefused}
	}
	return out
}

// TestLifecycle is the lifecycle pass's table: create, prune, suspend and
// every guard, from the desired state, the live repos and the policy.
func TestLifecycle(t *testing.T) {
	curl := overlay.Overlay{Packages: []string{"curl"}}
	jq := overlay.Overlay{Packages: []string{"jq"}}
	hc := overlay.Hash(curl)
	file := func(name string, o overlay.Overlay) DesiredRepo {
		return DesiredRepo{File: "ca-images-iac/" + name + ".yaml", Overlay: o, Hash: overlay.Hash(o)}
	}
	repo := func(name string, o overlay.Overlay) chainguard.Repo {
		return chainguard.Repo{ID: "org/" + name, Name: name, CustomAssembly: true, Overlay: o}
	}
	base := func(s string, repos map[string]DesiredRepo, ever ...string) Desired {
		d := Desired{Revision: "r1", Dir: "ca-images-iac", Repos: repos, EverPaths: ever}
		if s != "" {
			d.SettingsFile, d.Settings = settingsFile, mustSettings(t, s)
		}
		return d
	}
	brokenSettings := func(d Desired) Desired {
		_, err := settings.Parse(settingsFile, []byte("repos:\n  web:\n    suspended: true\n"))
		d.SettingsFile, d.Settings, d.SettingsErr = settingsFile, settings.Settings{}, err
		return d
	}
	const settingsSrc = `repos:
  custom-node:
    source: node
  held:
    suspend: true
  held-new:
    source: node
    suspend: true
  held-gone:
    suspend: true
  held-sync:
    suspend: true
`
	prune := Policy{Prune: true, PruneLimit: 2}
	refusedCause := `source repository "nosuch" not found`

	for _, tc := range []struct {
		name    string
		d       Desired
		live    []chainguard.Repo
		pol     Policy
		refused map[string]refusal
		want    map[string]lifecycleRow
		prune   PruneReport
		errors  bool
	}{
		{
			name: "a source creates a missing repo; without one it stays missing",
			d: base(settingsSrc, map[string]DesiredRepo{
				"custom-node": file("custom-node", curl),
				"ghost":       file("ghost", curl),
			}),
			want: map[string]lifecycleRow{
				"custom-node": {Action: vocab.ActionCreate, File: "ca-images-iac/custom-node.yaml", Source: "node", Diff: []string{"+ package curl"}},
				"ghost": {Action: vocab.ActionMissing, File: "ca-images-iac/ghost.yaml", Diff: []string{},
					Err: `ca-images-iac/ghost.yaml: repo "ghost" does not exist in the organization: not found`},
			},
			prune:  PruneReport{Limit: DefaultPruneLimit},
			errors: true,
		},
		{
			name: "a source the service refused for this file is not tried again: invalid, at the source's line",
			d:    base(settingsSrc, map[string]DesiredRepo{"custom-node": file("custom-node", curl)}),
			refused: map[string]refusal{
				"custom-node": {source: "node", desiredHash: hc, cause: refusedCause},
			},
			want: map[string]lifecycleRow{
				"custom-node": {Action: vocab.ActionInvalid, File: "ca-images-iac/custom-node.yaml", Source: "node", Diff: []string{}, SourceRefused: true,
					Err: settingsFile + `:3:13: repos.custom-node.source: the organization cannot create repo "custom-node" from source "node": ` + refusedCause},
			},
			prune:  PruneReport{Limit: DefaultPruneLimit},
			errors: true,
		},
		{
			name: "a refusal of another file (or source) does not hold the create",
			d:    base(settingsSrc, map[string]DesiredRepo{"custom-node": file("custom-node", curl)}),
			refused: map[string]refusal{
				"custom-node": {source: "node", desiredHash: "an older file", cause: refusedCause},
			},
			want: map[string]lifecycleRow{
				"custom-node": {Action: vocab.ActionCreate, File: "ca-images-iac/custom-node.yaml", Source: "node", Diff: []string{"+ package curl"}},
			},
			prune: PruneReport{Limit: DefaultPruneLimit},
		},
		{
			name: "suspended: never written, created or pruned; drift kept; errors and orphans stay",
			d: base(settingsSrc, map[string]DesiredRepo{
				"held":      file("held", curl),
				"held-new":  file("held-new", curl),
				"held-sync": file("held-sync", curl),
			}, "held-gone.yaml", "held.yaml", "held-new.yaml", "held-sync.yaml"),
			live: []chainguard.Repo{repo("held", jq), repo("held-gone", jq), repo("held-sync", curl)},
			pol:  prune,
			want: map[string]lifecycleRow{
				"held": {Action: vocab.ActionSuspended, Would: vocab.ActionUpdate, Held: vocab.HoldSuspended, File: "ca-images-iac/held.yaml",
					Diff: []string{"+ package curl", "- package jq"}},
				"held-new": {Action: vocab.ActionSuspended, Would: vocab.ActionCreate, Held: vocab.HoldSuspended, File: "ca-images-iac/held-new.yaml",
					Source: "node", Diff: []string{"+ package curl"}},
				"held-gone": {Action: vocab.ActionSuspended, Would: vocab.ActionPrune, Held: vocab.HoldSuspended, File: "ca-images-iac/held-gone.yaml",
					Diff: []string{"- package jq"}},
				"held-sync": {Action: vocab.ActionSuspended, Would: vocab.ActionNoop, File: "ca-images-iac/held-sync.yaml", Diff: []string{}},
			},
			prune: PruneReport{Enabled: true, Limit: 2},
		},
		{
			name: "prune: a repo a file once named (either extension); never one no file ever named",
			d: base("", map[string]DesiredRepo{"web": file("web", curl)},
				"a.yml", "b.yaml", "web.yaml"),
			live: []chainguard.Repo{repo("a", curl), repo("b", jq), repo("console", curl), repo("web", curl), repo("empty", overlay.Overlay{})},
			pol:  prune,
			want: map[string]lifecycleRow{
				"a":       {Action: vocab.ActionPrune, File: "ca-images-iac/a.yml", Diff: []string{"- package curl"}},
				"b":       {Action: vocab.ActionPrune, File: "ca-images-iac/b.yaml", Diff: []string{"- package jq"}},
				"console": {Action: vocab.ActionOrphan, Diff: []string{}},
				"web":     {Action: vocab.ActionNoop, File: "ca-images-iac/web.yaml", Diff: []string{}},
			},
			prune: PruneReport{Enabled: true, Limit: 2, Candidates: []string{"a", "b"}},
		},
		{
			name: "without --prune a gone file's repo stays orphan",
			d:    base("", map[string]DesiredRepo{"web": file("web", curl)}, "a.yaml", "web.yaml"),
			live: []chainguard.Repo{repo("a", curl), repo("web", curl)},
			want: map[string]lifecycleRow{
				"a":   {Action: vocab.ActionOrphan, Diff: []string{}},
				"web": {Action: vocab.ActionNoop, File: "ca-images-iac/web.yaml", Diff: []string{}},
			},
			prune: PruneReport{Limit: DefaultPruneLimit},
		},
		{
			name: "more prunes than the limit: none, each refused with the count",
			d:    base("", map[string]DesiredRepo{"web": file("web", curl)}, "a.yaml", "b.yaml", "c.yaml", "web.yaml"),
			live: []chainguard.Repo{repo("a", curl), repo("b", curl), repo("c", curl), repo("web", curl)},
			pol:  prune,
			want: map[string]lifecycleRow{
				"a": {Action: vocab.ActionPrune, File: "ca-images-iac/a.yaml", Held: vocab.HoldPruneLimit, Diff: []string{"- package curl"},
					Err: "pruning refused: 3 repos would be pruned, more than --prune-limit 2: none is pruned"},
				"b": {Action: vocab.ActionPrune, File: "ca-images-iac/b.yaml", Held: vocab.HoldPruneLimit, Diff: []string{"- package curl"},
					Err: "pruning refused: 3 repos would be pruned, more than --prune-limit 2: none is pruned"},
				"c": {Action: vocab.ActionPrune, File: "ca-images-iac/c.yaml", Held: vocab.HoldPruneLimit, Diff: []string{"- package curl"},
					Err: "pruning refused: 3 repos would be pruned, more than --prune-limit 2: none is pruned"},
				"web": {Action: vocab.ActionNoop, File: "ca-images-iac/web.yaml", Diff: []string{}},
			},
			prune: PruneReport{Enabled: true, Limit: 2, Candidates: []string{"a", "b", "c"}, Held: vocab.HoldPruneLimit,
				Reason: "3 repos would be pruned, more than --prune-limit 2: none is pruned"},
			errors: true,
		},
		{
			name: "a suspended repo is not a candidate: within the limit again",
			d: base("repos:\n  c:\n    suspend: true\n", map[string]DesiredRepo{"web": file("web", curl)},
				"a.yaml", "b.yaml", "c.yaml", "web.yaml"),
			live: []chainguard.Repo{repo("a", curl), repo("b", curl), repo("c", curl), repo("web", curl)},
			pol:  prune,
			want: map[string]lifecycleRow{
				"a":   {Action: vocab.ActionPrune, File: "ca-images-iac/a.yaml", Diff: []string{"- package curl"}},
				"b":   {Action: vocab.ActionPrune, File: "ca-images-iac/b.yaml", Diff: []string{"- package curl"}},
				"c":   {Action: vocab.ActionSuspended, Would: vocab.ActionPrune, Held: vocab.HoldSuspended, File: "ca-images-iac/c.yaml", Diff: []string{"- package curl"}},
				"web": {Action: vocab.ActionNoop, File: "ca-images-iac/web.yaml", Diff: []string{}},
			},
			prune: PruneReport{Enabled: true, Limit: 2, Candidates: []string{"a", "b"}},
		},
		{
			name: "no valid file in the folder: nothing is pruned",
			d: base("", map[string]DesiredRepo{
				"bad": {File: "ca-images-iac/bad.yaml", Hash: "invalid:1", Err: errors.New("ca-images-iac/bad.yaml:1:1: nope")},
			}, "a.yaml", "bad.yaml"),
			live: []chainguard.Repo{repo("a", curl)},
			pol:  prune,
			want: map[string]lifecycleRow{
				"a": {Action: vocab.ActionPrune, File: "ca-images-iac/a.yaml", Held: vocab.HoldNoFiles, Diff: []string{"- package curl"},
					Err: "pruning refused: ca-images-iac holds no valid file: nothing is pruned while it holds none (1 repo(s) would be)"},
				"bad": {Action: vocab.ActionInvalid, File: "ca-images-iac/bad.yaml", Diff: []string{},
					Err: "ca-images-iac/bad.yaml:1:1: nope"},
			},
			prune: PruneReport{Enabled: true, Limit: 2, Candidates: []string{"a"}, Held: vocab.HoldNoFiles,
				Reason: "ca-images-iac holds no valid file: nothing is pruned while it holds none (1 repo(s) would be)"},
			errors: true,
		},
		{
			name: "an invalid settings file holds every write, create and prune; drift still shown",
			d: brokenSettings(base("", map[string]DesiredRepo{
				"web":         file("web", curl),
				"custom-node": file("custom-node", curl),
				"same":        file("same", curl),
			}, "a.yaml", "web.yaml")),
			live: []chainguard.Repo{repo("a", curl), repo("same", curl), repo("web", jq)},
			pol:  prune,
			want: map[string]lifecycleRow{
				"a": {Action: vocab.ActionPrune, File: "ca-images-iac/a.yaml", Held: vocab.HoldSettingsInvalid, Diff: []string{"- package curl"},
					Err: settingsFile + " is invalid: nothing is written, created or pruned until it is fixed"},
				"custom-node": {Action: vocab.ActionMissing, File: "ca-images-iac/custom-node.yaml", Diff: []string{},
					Err: `ca-images-iac/custom-node.yaml: repo "custom-node" does not exist in the organization: not found`},
				"same": {Action: vocab.ActionNoop, File: "ca-images-iac/same.yaml", Diff: []string{}},
				"web": {Action: vocab.ActionUpdate, File: "ca-images-iac/web.yaml", Held: vocab.HoldSettingsInvalid, Diff: []string{"+ package curl", "- package jq"},
					Err: settingsFile + " is invalid: nothing is written, created or pruned until it is fixed"},
			},
			prune: PruneReport{Enabled: true, Limit: 2, Candidates: []string{"a"}, Held: vocab.HoldSettingsInvalid,
				Reason: settingsFile + " is invalid: nothing is pruned until it is fixed"},
			errors: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hashes := make([]string, len(tc.live))
			for i, r := range tc.live {
				hashes[i] = overlay.Hash(r.Overlay)
			}
			p := lifecycle(compute(tc.d, tc.live, hashes, nil), tc.d, tc.pol, nil, tc.refused)
			if diff := cmp.Diff(tc.want, rows(p)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.prune, p.Prune); diff != "" {
				t.Errorf("prune report (-want +got):\n%s", diff)
			}
			if p.HasErrors() != tc.errors {
				t.Errorf("HasErrors = %v, want %v", p.HasErrors(), tc.errors)
			}
			for _, c := range p.Changes {
				if c.Action == vocab.ActionPrune && (c.DesiredHash != emptyHash() || !c.Desired.IsZero()) {
					t.Errorf("%s: a prune writes %+v (hash %s), want the empty overlay", c.Repo, c.Desired, c.DesiredHash)
				}
			}
		})
	}
}

// A stalled create or prune is marked so, like an update.
func TestLifecycleStalled(t *testing.T) {
	curl := overlay.Overlay{Packages: []string{"curl"}}
	d := Desired{Revision: "r", Dir: "ca-images-iac", EverPaths: []string{"old.yaml"}, SettingsFile: settingsFile,
		Settings: mustSettings(t, "repos:\n  new:\n    source: node\n"),
		Repos:    map[string]DesiredRepo{"new": {File: "ca-images-iac/new.yaml", Overlay: curl, Hash: overlay.Hash(curl)}, "web": {File: "ca-images-iac/web.yaml", Hash: emptyHash()}}}
	live := []chainguard.Repo{{ID: "o/old", Name: "old", CustomAssembly: true, Overlay: curl}, {ID: "o/web", Name: "web", CustomAssembly: true}}
	p := ComputeWith(d, live, map[string]string{"new": overlay.Hash(curl), "old": emptyHash()}, Policy{Prune: true})
	for _, c := range p.Changes {
		if c.Repo != "web" && !c.Stalled {
			t.Errorf("%s (%s) is not stalled", c.Repo, c.Action)
		}
	}
}

// TestNextLifecycle is the state machine's table for the lifecycle's
// actions: create, prune, suspended and refusals.
func TestNextLifecycle(t *testing.T) {
	t0, f := tableFacts()
	now, commit := f.now, f.commit
	curl := overlay.Overlay{Packages: []string{"curl"}}
	add := overlay.Diff(overlay.Overlay{}, curl)
	remove := overlay.Diff(curl, overlay.Overlay{})
	eh := emptyHash()
	refusedErr := fmt.Errorf("creating repo web from nosuch in org: %w: %w", chainguard.ErrSourceRefused,
		status.Error(codes.NotFound, `source repository "nosuch" not found`))
	denied := status.Error(codes.PermissionDenied, "using custom_overlay.contents.runtime_repositories is not allowed")
	unavailableErr := status.Error(codes.Unavailable, "connection refused")
	sourceAt := mustSettings(t, "repos:\n  web:\n    source: nosuch\n").SourceProblem("web", "")
	sourceAtP := &sourceAt

	create := Change{Repo: "web", File: "f/web.yaml", Action: vocab.ActionCreate, DesiredHash: "h1", Desired: curl, Diff: add, Source: "nosuch", SourceAt: sourceAtP}
	prune := Change{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Action: vocab.ActionPrune, DesiredHash: eh, LiveHash: "live", Live: curl, Diff: remove}
	suspended := func(would vocab.Action, diff []overlay.Change) Change {
		c := Change{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Action: vocab.ActionSuspended, Would: would, DesiredHash: "h1", LiveHash: "live", Diff: diff}
		if would.Writes() {
			c.Held = vocab.HoldSuspended
		}
		return c
	}
	refusedPrune := prune
	refusedPrune.Held, refusedPrune.Err = vocab.HoldPruneLimit, errors.New("pruning refused: 7 repos would be pruned, more than --prune-limit 5: none is pruned")
	// missing before the file changed (and the source came with it)
	missing := store.RepoState{Repo: "web", File: "f/web.yaml", Status: vocab.StatusMissing, DesiredHash: "h0", Error: "f/web.yaml: repo does not exist"}
	synced := store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSynced, DesiredHash: "h1", LiveHash: "h1"}
	orphan := store.RepoState{Repo: "web", RepoID: "org/web", Status: vocab.StatusOrphan, LiveHash: "live"}
	ev := func(k vocab.EventKind, id string) Event {
		return Event{Kind: k, Repo: "web", RepoID: id, File: "f/web.yaml"}
	}
	changed := func(id string, from, to vocab.Status, reason string) Event {
		e := ev(vocab.EventStatusChanged, id)
		e.From, e.To, e.Reason = from, to, reason
		return e
	}
	drift := func(id string, diff []string, held vocab.HoldReason) Event {
		e := ev(vocab.EventDriftDetected, id)
		e.Diff, e.Held = diff, held
		return e
	}
	// once is e after the one write toward the stall count.
	once := func(e Event) Event { e.Writes = 1; return e }
	// applied is the event of a converged create or prune (a write of
	// the desired hash with the diff, from the source when a create).
	applied := func(k vocab.EventKind, a vocab.Action, hash string, diff []string, source string) Event {
		e := ev(k, "org/web")
		e.Action, e.DesiredHash, e.Diff, e.Converged, e.At, e.Attempts, e.Commit, e.Source = a, hash, diff, true, now, 1, commit, source
		return e
	}
	// createFailed is the event of a create from nosuch that failed.
	createFailed := func(reason string, attempts int, transient bool) Event {
		e := ev(vocab.EventWriteFailed, "")
		e.Action, e.Source, e.Reason, e.Attempts, e.At, e.Transient = vocab.ActionCreate, "nosuch", reason, attempts, now, transient
		return e
	}
	refusedText := `ca-images-iac/.ca-reconciler.yaml:3:13: repos.web.source: the organization cannot create repo "web" from source "nosuch": source repository "nosuch" not found`

	for _, tc := range []nextCase{
		{
			name: "a create pending (detect mode): drifted, waiting for the create",
			prev: missing,
			c:    create,
			want: store.RepoState{Repo: "web", File: "f/web.yaml", Status: vocab.StatusDrifted, DesiredHash: "h1", Diff: []string{"+ package curl"},
				DriftSince: new(now), Would: vocab.ActionCreate},
			events: []Event{drift("", []string{"+ package curl"}, ""), changed("", vocab.StatusMissing, vocab.StatusDrifted, "")},
		},
		{
			name: "created and converged: synced, with the new id; created, not written",
			prev: missing,
			c:    create,
			w:    &WriteResult{Converged: true, At: now, Attempts: 1, RepoID: "org/web"},
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSynced, DesiredHash: "h1", LiveHash: "h1",
				LastWrite: new(now), Writes: 1, WritesOf: "h1"},
			events: []Event{
				drift("org/web", []string{"+ package curl"}, ""),
				applied(vocab.EventCreated, vocab.ActionCreate, "h1", []string{"+ package curl"}, "nosuch"),
				once(changed("org/web", vocab.StatusMissing, vocab.StatusSynced, "")),
			},
		},
		{
			name: "the source refused: invalid at the source's line; no stall count",
			prev: missing,
			c:    create,
			w:    &WriteResult{Err: refusedErr, At: now, Attempts: 1},
			want: store.RepoState{Repo: "web", File: "f/web.yaml", Status: vocab.StatusInvalid, DesiredHash: "h1", Error: refusedText},
			events: []Event{
				drift("", []string{"+ package curl"}, ""),
				createFailed(refusedText, 1, false),
				changed("", vocab.StatusMissing, vocab.StatusInvalid, refusedText),
			},
		},
		{
			name: "a create failing for now (the API unavailable): failed, transient, no stall count",
			prev: missing,
			c:    create,
			w:    &WriteResult{Err: unavailableErr, Transient: true, At: now, Attempts: 4},
			want: store.RepoState{Repo: "web", File: "f/web.yaml", Status: vocab.StatusFailed, DesiredHash: "h1", Diff: []string{"+ package curl"},
				DriftSince: new(now), WriteError: unavailableErr.Error(), Would: vocab.ActionCreate},
			events: []Event{
				drift("", []string{"+ package curl"}, ""),
				createFailed(unavailableErr.Error(), 4, true),
				changed("", vocab.StatusMissing, vocab.StatusFailed, unavailableErr.Error()),
			},
		},
		{
			name: "the overlay refused on create: failed, counts toward the stall",
			prev: missing,
			c:    create,
			w:    &WriteResult{Err: denied, At: now, Attempts: 1},
			want: store.RepoState{Repo: "web", File: "f/web.yaml", Status: vocab.StatusFailed, DesiredHash: "h1", Diff: []string{"+ package curl"},
				DriftSince: new(now), WriteError: denied.Error(), Writes: 1, WritesOf: "h1", Would: vocab.ActionCreate},
			events: []Event{
				drift("", []string{"+ package curl"}, ""),
				createFailed(denied.Error(), 1, false),
				once(changed("", vocab.StatusMissing, vocab.StatusFailed, denied.Error())),
			},
		},
		{
			name: "pruned: the empty overlay written; pruned, not written",
			prev: orphan,
			c:    prune,
			w:    &WriteResult{Converged: true, At: now, Attempts: 1, RepoID: "org/web"},
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusPruned, DesiredHash: eh, LiveHash: eh,
				LastWrite: new(now), Writes: 1, WritesOf: eh},
			events: []Event{
				drift("org/web", []string{"- package curl"}, ""),
				applied(vocab.EventPruned, vocab.ActionPrune, eh, []string{"- package curl"}, ""),
				once(changed("org/web", vocab.StatusOrphan, vocab.StatusPruned, "")),
			},
		},
		{
			name: "a prune refused by the limit: drifted, held, refused once",
			prev: orphan,
			c:    refusedPrune,
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusDrifted, DesiredHash: eh, LiveHash: "live",
				Diff: []string{"- package curl"}, DriftSince: new(now), Error: refusedPrune.Err.Error(), Held: vocab.HoldPruneLimit, Would: vocab.ActionPrune},
			events: []Event{
				drift("org/web", []string{"- package curl"}, ""),
				func() Event {
					e := ev(vocab.EventRefused, "org/web")
					e.Held, e.Action, e.Reason, e.Diff = vocab.HoldPruneLimit, vocab.ActionPrune, refusedPrune.Err.Error(), []string{"- package curl"}
					return e
				}(),
				changed("org/web", vocab.StatusOrphan, vocab.StatusDrifted, ""),
			},
		},
		{
			name: "still refused for the same reason: nothing new",
			prev: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusDrifted, DesiredHash: eh, LiveHash: "live",
				Diff: []string{"- package curl"}, DriftSince: new(t0), Error: refusedPrune.Err.Error(), Held: vocab.HoldPruneLimit, Would: vocab.ActionPrune},
			c: refusedPrune,
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusDrifted, DesiredHash: eh, LiveHash: "live",
				Diff: []string{"- package curl"}, DriftSince: new(t0), Error: refusedPrune.Err.Error(), Held: vocab.HoldPruneLimit, Would: vocab.ActionPrune},
		},
		{
			name: "suspended and drifted: drift detected, held, never written",
			prev: synced,
			c:    suspended(vocab.ActionUpdate, add),
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSuspended, DesiredHash: "h1", LiveHash: "live",
				Diff: []string{"+ package curl"}, DriftSince: new(now), Held: vocab.HoldSuspended, Would: vocab.ActionUpdate},
			events: []Event{drift("org/web", []string{"+ package curl"}, vocab.HoldSuspended), changed("org/web", vocab.StatusSynced, vocab.StatusSuspended, "")},
		},
		{
			name: "suspended and still drifted: nothing new, drift kept since it started",
			prev: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSuspended, DesiredHash: "h1", LiveHash: "live",
				Diff: []string{"+ package curl"}, DriftSince: new(t0), Held: vocab.HoldSuspended, Would: vocab.ActionUpdate},
			c: suspended(vocab.ActionUpdate, add),
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSuspended, DesiredHash: "h1", LiveHash: "live",
				Diff: []string{"+ package curl"}, DriftSince: new(t0), Held: vocab.HoldSuspended, Would: vocab.ActionUpdate},
		},
		{
			name:   "suspended and in sync: suspended, no drift",
			prev:   synced,
			c:      suspended(vocab.ActionNoop, nil),
			want:   store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSuspended, DesiredHash: "h1", LiveHash: "live"},
			events: []Event{changed("org/web", vocab.StatusSynced, vocab.StatusSuspended, "")},
		},
		{
			name: "resumed: the drifted repo is an update again, drift already known",
			prev: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusSuspended, DesiredHash: "h1", LiveHash: "live",
				Diff: []string{"+ package curl"}, DriftSince: new(t0), Held: vocab.HoldSuspended, Would: vocab.ActionUpdate},
			c: Change{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Action: vocab.ActionUpdate, DesiredHash: "h1", LiveHash: "live", Diff: add},
			want: store.RepoState{Repo: "web", RepoID: "org/web", File: "f/web.yaml", Status: vocab.StatusDrifted, DesiredHash: "h1", LiveHash: "live",
				Diff: []string{"+ package curl"}, DriftSince: new(t0)},
			events: []Event{changed("org/web", vocab.StatusSuspended, vocab.StatusDrifted, "")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, f) })
	}
}

// MapFiles reads the settings file beside the overlays: it is neither an
// overlay nor ignored; a setting for a repo no file names is a warning; a
// broken file is an error with file:line; a parse is reused while its blob
// does not change.
func TestMapFilesReadsSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings string
		repos    []string
		suspend  []string
		errs     string
		warnings []string
	}{
		{name: "no settings file"},
		{
			name:     "valid, with a setting for a repo no file names",
			settings: "repos:\n  web:\n    suspend: true\n  custom-node:\n    source: node\n  ghost:\n    suspend: true\n",
			repos:    []string{"custom-node", "ghost", "web"},
			suspend:  []string{"ghost", "web"},
			warnings: []string{settingsFile + ":6:3: warning: repos.ghost: no file ghost.yaml or ghost.yml in ca-images-iac names this repo"},
		},
		{
			name:     "invalid: no settings apply, and no warnings",
			settings: "repos:\n  web:\n    suspend: maybe\n  ghost: {}\n",
			errs:     settingsFile + `:3:14: repos.web.suspend: expected true or false, got the string "maybe"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"web.yaml": "contents:\n  packages: [curl]\n", "custom-node.yml": "{}\n"}
			if tc.settings != "" {
				files[".ca-reconciler.yaml"] = tc.settings
			}
			d := MapFiles("ca-images-iac", snap(files))
			if d.Err != nil {
				t.Fatal(d.Err)
			}
			if len(d.Ignored) != 0 {
				t.Errorf("ignored %v, want nothing: the settings file is not ignored", d.Ignored)
			}
			if valid, invalid, ignored := d.Counts(); valid != 2 || invalid != 0 || ignored != 0 {
				t.Errorf("counts %d/%d/%d, want 2/0/0: the settings file is not an overlay", valid, invalid, ignored)
			}
			wantFile := ""
			if tc.settings != "" {
				wantFile = settingsFile
			}
			var suspended []string
			for _, n := range d.Settings.Names() {
				if d.Settings.Repo(n).Suspend {
					suspended = append(suspended, n)
				}
			}
			var warnings []string
			for _, w := range d.SettingsWarnings {
				warnings = append(warnings, w.String())
			}
			got := []any{d.SettingsFile, d.Settings.Names(), suspended, errText(d.SettingsErr), warnings}
			want := []any{wantFile, tc.repos, tc.suspend, tc.errs, tc.warnings}
			if tc.repos == nil {
				want[1] = []string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("settings (file, repos, suspended, errors, warnings) (-want +got):\n%s", diff)
			}
		})
	}
}

// The settings file is read again only when its blob changes; its warnings
// follow the files of each revision.
func TestSettingsParseReused(t *testing.T) {
	files := fstest.MapFS{
		"web.yaml":            {Data: []byte("{}\n")},
		".ca-reconciler.yaml": {Data: []byte("repos:\n  web:\n    suspend: true\n  api:\n    suspend: true\n")},
	}
	var cache parseCache
	rev1 := &countingFS{MapFS: files}
	d1 := mapFiles("f", rev1, &cache)
	if got := rev1.takeReads()[".ca-reconciler.yaml"]; got != 1 || len(d1.SettingsWarnings) != 1 {
		t.Fatalf("first revision: settings read %d times, warnings %v", got, d1.SettingsWarnings)
	}
	files2 := fstest.MapFS{"api.yaml": {Data: []byte("{}\n")}}
	for k, v := range files {
		files2[k] = v
	}
	rev2 := &countingFS{MapFS: files2}
	d2 := mapFiles("f", rev2, &cache)
	if got := rev2.takeReads()[".ca-reconciler.yaml"]; got != 0 || len(d2.SettingsWarnings) != 0 || !d2.Settings.Repo("api").Suspend {
		t.Errorf("unchanged settings blob: read %d times (want 0), warnings %v (want none), api suspended %v", got, d2.SettingsWarnings, d2.Settings.Repo("api").Suspend)
	}
	files2[".ca-reconciler.yaml"] = &fstest.MapFile{Data: []byte("repos: [\n")}
	rev3 := &countingFS{MapFS: files2}
	d3 := mapFiles("f", rev3, &cache)
	if got := rev3.takeReads()[".ca-reconciler.yaml"]; got != 1 || d3.SettingsErr == nil || d3.Settings.Repo("web").Suspend {
		t.Errorf("changed settings blob: read %d times (want 1), err %v, settings %+v", got, d3.SettingsErr, d3.Settings)
	}
}

//go:generate go test -count=1 -run ^TestLifecyclePlanGolden$ . -update

// A plan with every lifecycle action, and one with every guard, printed as
// text, JSON and Markdown, compared with golden files.
func TestLifecyclePlanGolden(t *testing.T) {
	curl := overlay.Overlay{Packages: []string{"curl"}}
	jq := overlay.Overlay{Packages: []string{"jq"}}
	file := func(name string, o overlay.Overlay) DesiredRepo {
		return DesiredRepo{File: "ca-images-iac/" + name + ".yaml", Overlay: o, Hash: overlay.Hash(o)}
	}
	repo := func(name string, o overlay.Overlay) chainguard.Repo {
		return chainguard.Repo{ID: "org/" + name, Name: name, CustomAssembly: true, Overlay: o}
	}
	settingsSrc := "repos:\n  custom-node:\n    source: node\n  nginx:\n    suspend: true\n  frozen:\n    suspend: true\n  typo:\n    suspend: true\n"
	lifecycleDesired := Desired{Revision: "0123456789abcdef0123456789abcdef01234567", Dir: "ca-images-iac",
		SettingsFile: settingsFile, Settings: mustSettings(t, settingsSrc),
		SettingsWarnings: overlay.Problems{{Severity: overlay.SeverityWarning, File: settingsFile, Line: 8, Column: 3, Field: "repos.typo",
			Message: "no file typo.yaml or typo.yml in ca-images-iac names this repo"}},
		Repos: map[string]DesiredRepo{
			"custom-node": file("custom-node", curl),
			"nginx":       file("nginx", curl),
			"web":         file("web", curl),
		},
		EverPaths: []string{"custom-node.yaml", "frozen.yaml", "nginx.yaml", "old.yaml", "web.yaml"},
	}
	live := []chainguard.Repo{repo("console-only", jq), repo("frozen", jq), repo("nginx", jq), repo("old", jq), repo("web", curl)}
	guards := lifecycleDesired
	guards.Settings, guards.SettingsWarnings = settings.Settings{}, nil
	_, guards.SettingsErr = settings.Parse(settingsFile, []byte("repos:\n  nginx:\n    suspended: true\n"))

	for _, tc := range []struct {
		name string
		plan Plan
	}{
		{"lifecycle", ComputeWith(lifecycleDesired, live, nil, Policy{Prune: true})},
		{"prune-limit", func() Plan {
			d := lifecycleDesired
			d.EverPaths = append(slices.Clone(d.EverPaths), "old2.yml")
			slices.Sort(d.EverPaths)
			return ComputeWith(d, append(live, repo("old2", jq)), nil, Policy{Prune: true, PruneLimit: 1})
		}()},
		{"settings-invalid", ComputeWith(guards, live, nil, Policy{Prune: true})},
		{"suspended-only", func() Plan {
			d := lifecycleDesired
			d.Repos = map[string]DesiredRepo{"nginx": file("nginx", curl), "web": file("web", curl)}
			d.SettingsWarnings = nil
			return ComputeWith(d, []chainguard.Repo{repo("nginx", jq), repo("web", curl)}, nil, Policy{})
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var text, js, md strings.Builder
			if err := tc.plan.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := tc.plan.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if err := tc.plan.WriteMarkdown(&md, MarkdownOptions{Org: "acme.com"}); err != nil {
				t.Fatal(err)
			}
			for ext, got := range map[string]string{"txt": text.String(), "json": js.String(), "md": md.String()} {
				checkGolden(t, filepath.Join("testdata", "lifecycle", tc.name+"."+ext), got)
			}
		})
	}
}
