package overlaypb

import (
	"testing"
	"time"

	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// benchRepo is a repo as ListRepos returns it, with a typical overlay and
// no unknown fields.
func benchRepo() *registryv1.Repo {
	gid := uint32(1000)
	return &registryv1.Repo{
		Id: "c0ffee/0123456789abcdef", Name: "repo-0001", Description: "an image", Readme: "# readme",
		Bundles: []string{"application"}, Aliases: []string{"r"}, ActiveTags: []string{"latest", "1.2"},
		SyncConfig: &registryv1.SyncConfig{Source: "cgr.dev/chainguard/python", ApkoOverlay: "contents: {}", Expiration: timestamppb.New(time.Unix(1e9, 0))},
		CustomOverlay: ToProto(overlay.Overlay{
			Packages:    []string{"curl", "jq", "wget"},
			Environment: map[string]string{"APP_ENV": "production", "N": "1"},
			Annotations: map[string]string{"com.example.team": "t1"},
			Accounts: overlay.Accounts{RunAs: "app", Users: []overlay.User{{UserName: "app", UID: 1000, GID: &gid}},
				Groups: []overlay.Group{{GroupName: "app", GID: 1000, Members: []string{"app"}}}},
		}),
	}
}

// BenchmarkUnknownFields is what counting a repo's unknown fields costs
// on every ListRepos, once per repo: a repo without unknown fields (the
// common case) and one with them in its overlay.
func BenchmarkUnknownFields(b *testing.B) {
	plain := benchRepo()
	withFields := benchRepo()
	withFields.GetCustomOverlay().ProtoReflect().SetUnknown(append(raw(20, "guarded"), raw(21, "closed")...))
	for _, c := range []struct {
		name string
		repo *registryv1.Repo
		want int
	}{{"none", plain, 0}, {"two", withFields, 2}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if n := UnknownFields(c.repo); n != c.want {
					b.Fatalf("%d unknown fields, want %d", n, c.want)
				}
				if n := UnknownFields(c.repo.GetCustomOverlay()); n != c.want {
					b.Fatalf("%d unknown fields in the overlay, want %d", n, c.want)
				}
			}
		})
	}
}

// More distinct unknown numbers than the array on the stack holds are
// still counted once each.
func TestUnknownFieldsManyNumbers(t *testing.T) {
	var fields [][]byte
	for i := range 20 {
		fields = append(fields, raw(protowire.Number(100+i), "x"), raw(protowire.Number(100+i), "again"))
	}
	if got := UnknownFields(withUnknown(&registryv1.CustomOverlay{}, fields...)); got != 20 {
		t.Errorf("UnknownFields = %d, want 20", got)
	}
}

// Counting allocates nothing but the wrapper of each non-empty list of
// messages (here accounts.users and accounts.groups), whether or not there
// are unknown fields: ListRepos counts every repo on every cycle.
func TestUnknownFieldsAllocations(t *testing.T) {
	repo := benchRepo()
	repo.GetCustomOverlay().ProtoReflect().SetUnknown(raw(20, "guarded"))
	if got := testing.AllocsPerRun(100, func() { UnknownFields(repo) }); got != 2 {
		t.Errorf("counting a repo with users and groups: %v allocations, want 2", got)
	}
	repo.GetCustomOverlay().Accounts = nil
	if got := testing.AllocsPerRun(100, func() { UnknownFields(repo) }); got != 0 {
		t.Errorf("counting a repo without lists of messages: %v allocations, want 0", got)
	}
}
