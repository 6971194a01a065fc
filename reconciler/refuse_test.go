package reconciler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

func TestRefuse(t *testing.T) {
	pkgs := overlay.Overlay{Packages: []string{"mongo-9.0"}}
	problem := overlay.Problems{{File: "ca-images-iac/api.yaml", Line: 3, Column: 7, Field: "contents.packages[0]", Message: "not available"}}
	api := updateChange("api", "ca-images-iac/api.yaml", overlay.Overlay{}, pkgs)
	db := updateChange("db", "ca-images-iac/db.yaml", overlay.Overlay{}, pkgs)
	plan := Plan{Revision: "r", Changes: []Change{api, db}}

	got := Refuse(plan, map[string]overlay.Problems{"api": problem, "ghost": problem}, map[string][]string{"db": {"checked alone"}})
	wantAPI := api
	wantAPI.Action, wantAPI.Err, wantAPI.CheckRefused, wantAPI.Diff = vocab.ActionInvalid, problem, true, nil
	wantDB := db
	wantDB.CheckNotes = []string{"checked alone"}
	opts := cmpopts.EquateEmpty()
	if diff := cmp.Diff(Plan{Revision: "r", Changes: []Change{wantAPI, wantDB}}, got, opts); diff != "" {
		t.Errorf("Refuse (-want +got):\n%s", diff)
	}
	if got.Changes[0].Drifted() || !got.HasErrors() {
		t.Errorf("a refused change writes (%v) or the plan has no errors (%v)", got.Changes[0].Drifted(), got.HasErrors())
	}
	// The plan given is not changed.
	if plan.Changes[0].Action != vocab.ActionUpdate || plan.Changes[1].CheckNotes != nil {
		t.Errorf("Refuse changed its input: %+v", plan.Changes)
	}
	if diff := cmp.Diff(plan, Refuse(plan, nil, nil), opts); diff != "" {
		t.Errorf("Refuse with nothing refused (-want +got):\n%s", diff)
	}
}

func TestNeedsCheck(t *testing.T) {
	pkgs := overlay.Overlay{Packages: []string{"curl"}}
	for _, tc := range []struct {
		name string
		c    Change
		want bool
	}{
		{"an update with packages", Change{Action: vocab.ActionUpdate, Desired: pkgs}, true},
		{"a create with packages", Change{Action: vocab.ActionCreate, Desired: pkgs}, true},
		{"a prune", Change{Action: vocab.ActionPrune}, false},
		{"suspended", Change{Action: vocab.ActionSuspended, Desired: pkgs}, false},
		{"an update without packages", Change{Action: vocab.ActionUpdate}, false},
		{"a reset", Change{Action: vocab.ActionReset}, false},
		{"stalled", Change{Action: vocab.ActionUpdate, Desired: pkgs, Stalled: true}, false},
		{"in sync", Change{Action: vocab.ActionNoop, Desired: pkgs}, false},
		{"invalid", Change{Action: vocab.ActionInvalid, Desired: pkgs}, false},
		{"missing", Change{Action: vocab.ActionMissing, Desired: pkgs}, false},
	} {
		if got := needsCheck(tc.c); got != tc.want {
			t.Errorf("%s: needsCheck = %v, want %v", tc.name, got, tc.want)
		}
	}
}
