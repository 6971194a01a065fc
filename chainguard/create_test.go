package chainguard_test

import (
	"errors"
	"testing"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc/codes"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

func TestCreateRepo(t *testing.T) {
	emu, url, orgID := startOrg(t, emulator.Options{})
	other := emu.CreateOrg("other.example")
	ids, err := emu.SetSourceImages(orgID, "node")
	if err != nil {
		t.Fatal(err)
	}
	python := emu.CreateRepo(orgID, &registryv1.Repo{Name: "python", ActiveTags: []string{"latest"}})
	secret := emu.CreateRepo(other, &registryv1.Repo{Name: "secret"})
	taken := emu.CreateRepo(orgID, customRepo("taken"))
	c := dial(t, chainguard.Config{URL: url})
	ctx := t.Context()
	o := overlay.Overlay{Packages: []string{"curl"}, Environment: map[string]string{"A": "1"}}

	for _, tc := range []struct {
		name, repo, source string
		o                  overlay.Overlay
		wantSource         string // the source as stored
		code               codes.Code
		is                 error
		msg                string
	}{
		{name: "a catalog image", repo: "custom-node", source: "node", o: o, wantSource: ids[0]},
		{name: "a repo of the org, by name", repo: "custom-python", source: "python", o: o, wantSource: python.GetId()},
		{name: "a repo of the org, by id, empty overlay", repo: "custom-python-2", source: python.GetId(), wantSource: python.GetId()},
		{name: "a source that does not exist", repo: "x", source: "nosuch", o: o, code: codes.NotFound, is: chainguard.ErrSourceRefused,
			msg: `creating repo x from nosuch in ` + orgID + `: source refused: rpc error: code = NotFound desc = source repository "nosuch" not found`},
		{name: "another org's repo", repo: "x", source: secret.GetId(), o: o, code: codes.PermissionDenied, is: chainguard.ErrSourceRefused,
			msg: `creating repo x from ` + secret.GetId() + ` in ` + orgID + `: source refused: rpc error: code = PermissionDenied desc = organization "acme.example" is not entitled to source repository "` + secret.GetId() + `"`},
		{name: "a name that is taken", repo: "taken", source: "node", o: o, code: codes.AlreadyExists, is: chainguard.ErrExists},
		{name: "an overlay the org is not entitled to", repo: "x", source: "node", o: overlay.Overlay{RuntimeRepositories: []string{"https://apk.example.com/os"}},
			code: codes.PermissionDenied,
			msg:  `creating repo x from node in ` + orgID + `: rpc error: code = PermissionDenied desc = using custom_overlay.contents.runtime_repositories is not allowed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.CreateRepo(ctx, orgID, tc.repo, tc.source, tc.o)
			if tc.code != codes.OK {
				if chainguard.Code(err) != tc.code || chainguard.Retryable(err) {
					t.Fatalf("CreateRepo = %v, want a permanent %v", err, tc.code)
				}
				if errors.Is(err, chainguard.ErrSourceRefused) != (tc.is == chainguard.ErrSourceRefused) || errors.Is(err, chainguard.ErrExists) != (tc.is == chainguard.ErrExists) {
					t.Errorf("CreateRepo = %v, want it to be %v only", err, tc.is)
				}
				if tc.msg != "" && err.Error() != tc.msg {
					t.Errorf("CreateRepo error\n got %s\nwant %s", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stored := emu.Repo(got.ID)
			if got.Name != tc.repo || !got.CustomAssembly || !overlay.Equal(got.Overlay, tc.o) {
				t.Errorf("CreateRepo = %+v", got)
			}
			if !overlay.Equal(storedOverlay(emu, got.ID), tc.o) || stored.GetSyncConfig().GetSource() != tc.wantSource {
				t.Errorf("stored repo = %v, want overlay %+v and source %s", stored, tc.o, tc.wantSource)
			}
		})
	}
	if got := emu.Repo(taken.GetId()); got.GetSyncConfig().GetSource() != "" {
		t.Errorf("the existing repo was replaced: %v", got)
	}
	if _, err := c.CreateRepo(ctx, orgID, "x", "", overlay.Overlay{}); err == nil || err.Error() != "creating repo x in "+orgID+": no source given" {
		t.Errorf("CreateRepo without a source = %v", err)
	}
}
