package emulator_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"chainguard.dev/sdk/auth"
	"chainguard.dev/sdk/proto/platform"
	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

func TestAuthentication(t *testing.T) {
	emu, url := start(t, emulator.Options{
		Token: "s3cret",
		VerifyToken: func(_ context.Context, token string) error {
			if token == "issued-elsewhere" {
				return nil
			}
			return errors.New("unknown token")
		},
	})
	emu.CreateOrg("acme.example")
	list := func(c platform.Clients) error {
		_, err := c.IAM().Groups().List(t.Context(), &iamv1.GroupFilter{Name: "acme.example"})
		return err
	}

	ctx := t.Context()
	anonymous, err := platform.NewPlatformClients(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer anonymous.Close()
	wantStatus(t, list(anonymous), codes.Unauthenticated, "missing bearer token in the authorization metadata")

	notBearer, err := platform.NewPlatformClients(ctx, url, auth.NewFromToken(ctx, "s3cret", false))
	if err != nil {
		t.Fatal(err)
	}
	defer notBearer.Close()
	wantStatus(t, list(notBearer), codes.Unauthenticated, "missing bearer token in the authorization metadata")

	wantStatus(t, list(dial(t, url, "wrong")), codes.Unauthenticated, "invalid bearer token")
	wantStatus(t, list(dial(t, url, "s3cret")), codes.OK, "")
	wantStatus(t, list(dial(t, url, "issued-elsewhere")), codes.OK, "")

	want := map[string]int{listGroups + " Unauthenticated": 3, listGroups + " OK": 2}
	if diff := cmp.Diff(want, emu.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

func TestInjectFault(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	org := emu.CreateOrg("acme.example")
	id := emu.CreateRepo(org, customRepo("nginx")).GetId()
	r := readRepo(t, c, id)

	emu.InjectFault(updateRepo, codes.Unavailable, 2)
	emu.InjectFault(updateRepo, codes.PermissionDenied, 1)
	var got []codes.Code
	for range 5 {
		_, err := c.Registry().Registry().UpdateRepo(t.Context(), r)
		got = append(got, status.Code(err))
	}
	want := []codes.Code{codes.Unavailable, codes.Unavailable, codes.PermissionDenied, codes.OK, codes.OK}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	_, err := c.Registry().Registry().ListRepos(t.Context(), &registryv1.RepoFilter{})
	wantStatus(t, err, codes.OK, "") // other methods are not affected

	emu.InjectFault(listRepos, codes.Internal, -1)
	for range 3 {
		_, err := c.Registry().Registry().ListRepos(t.Context(), &registryv1.RepoFilter{})
		wantStatus(t, err, codes.Internal, "injected fault")
	}
	emu.ClearFaults()
	_, err = c.Registry().Registry().ListRepos(t.Context(), &registryv1.RepoFilter{})
	wantStatus(t, err, codes.OK, "")

	wantCounts := map[string]int{
		listRepos + " OK":                3, // readRepo, then two
		listRepos + " Internal":          3,
		updateRepo + " Unavailable":      2,
		updateRepo + " PermissionDenied": 1,
		updateRepo + " OK":               2,
	}
	if diff := cmp.Diff(wantCounts, emu.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if n := emu.Calls(updateRepo); n != 5 {
		t.Errorf("Calls(UpdateRepo) = %d, want 5", n)
	}
	if n := len(emu.BuildReports(id)); n != 4 {
		t.Errorf("%d builds, want 4: only the two successful updates build", n)
	}
}

func TestInjectLatency(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	emu.InjectLatency(listRepos, time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Registry().Registry().ListRepos(ctx, &registryv1.RepoFilter{})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("slow call = %v, want DeadlineExceeded", err)
	}
	_, err = c.IAM().Groups().List(t.Context(), &iamv1.GroupFilter{})
	wantStatus(t, err, codes.OK, "") // other methods are not delayed
	emu.InjectLatency(listRepos, 0)
	_, err = c.Registry().Registry().ListRepos(t.Context(), &registryv1.RepoFilter{})
	wantStatus(t, err, codes.OK, "")
}

func TestWriteCountsAndHandler(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{})
	for range 2 {
		_, _ = c.IAM().Groups().List(t.Context(), &iamv1.GroupFilter{})
	}
	_, _ = c.Registry().Registry().UpdateRepo(t.Context(), &registryv1.Repo{Id: "nope", Name: "x"})
	const want = listGroups + " OK 2\n" + updateRepo + " NotFound 1\n"
	var b strings.Builder
	if err := emu.WriteCounts(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("WriteCounts = %q, want %q", b.String(), want)
	}
	rec := httptest.NewRecorder()
	emu.CountsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/counts", nil))
	body, _ := io.ReadAll(rec.Body)
	if string(body) != want || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("handler = %q (%s)", body, rec.Header().Get("Content-Type"))
	}
	emu.ResetCounts()
	if len(emu.Counts()) != 0 {
		t.Errorf("counts after reset = %v", emu.Counts())
	}
}

// Serve returns nil once Close is called, and Close leaves no goroutine of
// the emulator or of gRPC behind, even with builds pending and a call in
// flight.
func TestCloseLeavesNothingRunning(t *testing.T) {
	emu := emulator.New(emulator.Options{BuildDuration: time.Hour, BuildTimeout: time.Hour, HangPackages: []string{"slow"}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- emu.Serve(lis) }()
	url, err := emu.Start("127.0.0.1:0") // a second listener
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	c1, err := platform.NewPlatformClients(ctx, "http://"+lis.Addr().String(), auth.NewFromToken(ctx, "Bearer x", false))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := platform.NewPlatformClients(ctx, url, auth.NewFromToken(ctx, "Bearer x", false))
	if err != nil {
		t.Fatal(err)
	}
	org := emu.CreateOrg("acme.example")
	a := emu.CreateRepo(org, customRepo("a")).GetId()
	setPackages(t, emu, a, "curl")
	setPackages(t, emu, emu.CreateRepo(org, customRepo("b")).GetId(), "slow")
	if _, err := c1.IAM().Groups().List(ctx, &iamv1.GroupFilter{}); err != nil {
		t.Fatal(err)
	}

	emu.InjectLatency(listRepos, time.Hour)
	inFlight := make(chan error, 1)
	go func() {
		_, err := c2.Registry().Registry().ListRepos(ctx, &registryv1.RepoFilter{})
		inFlight <- err
	}()
	eventually(t, "the slow call to arrive", func() bool { return strings.Contains(stacks(), "emulator.(*Server).faultInterceptor") })

	emu.Close()
	emu.Close() // idempotent
	if err := <-served; err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
	if err := <-inFlight; status.Code(err) == codes.OK {
		t.Errorf("call in flight during Close succeeded")
	}
	if err := emu.TriggerRebuild(a); err == nil {
		t.Error("TriggerRebuild after Close succeeded")
	}
	_ = c1.Close()
	_ = c2.Close()

	deadline := time.Now().Add(5 * time.Second)
	for leaked() != "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l := leaked(); l != "" {
		t.Errorf("goroutines left after Close:\n%s", l)
	}
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// leaked returns the stacks of goroutines of the emulator or of a gRPC
// server or client, if any.
func leaked() string {
	var out []string
	for _, g := range strings.Split(stacks(), "\n\n") {
		if strings.Contains(g, "ca-reconciler/emulator.") || strings.Contains(g, "google.golang.org/grpc") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// Options.Latency delays every call, and stays when injected faults are
// cleared; SetLatency changes it.
func TestLatency(t *testing.T) {
	emu, c := startAndDial(t, emulator.Options{Latency: time.Hour})
	call := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := c.IAM().Groups().List(ctx, &iamv1.GroupFilter{})
		return err
	}
	if err := call(); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("call with an hour of latency = %v, want DeadlineExceeded", err)
	}
	emu.ClearFaults()
	if err := call(); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("after ClearFaults = %v, want DeadlineExceeded", err)
	}
	emu.SetLatency(0)
	wantStatus(t, call(), codes.OK, "")
	if err := emu.ApplySeed(emulator.Seed{Latency: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := call(); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("after a seed with latency = %v, want DeadlineExceeded", err)
	}
	seed, err := emulator.ParseSeed([]byte("latency: 50ms\n"))
	if err != nil || seed.Latency != 50*time.Millisecond {
		t.Errorf("ParseSeed(latency: 50ms) = %v, %v", seed.Latency, err)
	}
	if _, err := emulator.ParseSeed([]byte("latency: -1s\n")); err == nil || err.Error() != "latency: -1s is negative" {
		t.Errorf("negative latency: %v", err)
	}
}
