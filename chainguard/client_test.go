package chainguard_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	oidcv1 "chainguard.dev/sdk/proto/platform/oidc/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/emutest"
	"github.com/ca-reconciler/ca-reconciler/overlay"
	"github.com/ca-reconciler/ca-reconciler/overlay/overlaypb"
)

func startEmulator(t *testing.T, opts emulator.Options) (*emulator.Server, string) {
	t.Helper()
	if opts.BuildDuration == 0 {
		opts.BuildDuration = 10 * time.Millisecond
	}
	return emutest.Start(t, opts)
}

// startOrg is startEmulator holding the organization acme.example, whose
// id it returns with the emulator and its URL.
func startOrg(t *testing.T, opts emulator.Options) (*emulator.Server, string, string) {
	t.Helper()
	emu, url := startEmulator(t, opts)
	return emu, url, emu.CreateOrg("acme.example")
}

func dial(t *testing.T, cfg chainguard.Config) *chainguard.Client {
	t.Helper()
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	c, err := chainguard.Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// storedOverlay is the overlay the emulator holds for the repo id.
func storedOverlay(emu *emulator.Server, id string) overlay.Overlay {
	return overlaypb.FromProto(emu.Repo(id).GetCustomOverlay())
}

func customRepo(name string) *registryv1.Repo {
	return &registryv1.Repo{Name: name, SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "contents: {}"}}
}

type observed struct{ calls []string }

func (o *observed) ObserveAPIRequest(method, code string, _ float64) {
	o.calls = append(o.calls, method+" "+code)
}

func TestResolveListWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noV2   bool
		writes string
		calls  []string // after ResolveOrg and ListRepos
	}{{
		name:   "registry v2",
		writes: "v2",
		calls:  []string{"ReposService.GetRepo OK", "ReposService.UpdateRepo OK", "ReposService.GetRepo OK", "ReposService.UpdateRepo PermissionDenied", "ReposService.GetRepo NotFound"},
	}, {
		// The first write learns that v2 is not served; every write goes
		// through v1 from then on.
		name:   "a server without registry v2",
		noV2:   true,
		writes: "v1",
		calls:  []string{"ReposService.GetRepo Unimplemented", "Registry.ListRepos OK", "Registry.UpdateRepo OK", "Registry.ListRepos OK", "Registry.UpdateRepo PermissionDenied", "Registry.ListRepos OK"},
	}} {
		t.Run(tc.name, func(t *testing.T) { testResolveListWrite(t, tc.noV2, tc.writes, tc.calls) })
	}
}

func testResolveListWrite(t *testing.T, noV2 bool, writes string, writeCalls []string) {
	emu, url, orgID := startOrg(t, emulator.Options{DisableRegistryV2: noV2})
	other := emu.CreateOrg("other.example")
	emu.CreateRepo(orgID, customRepo("b"))
	a := emu.CreateRepo(orgID, customRepo("a"))
	emu.CreateRepo(orgID, &registryv1.Repo{Name: "plain"})
	emu.CreateRepo(other, customRepo("not-mine"))
	obs := &observed{}
	c := dial(t, chainguard.Config{URL: url, Observer: obs})
	ctx := t.Context()

	for _, in := range []string{"acme.example", orgID} {
		org, err := c.ResolveOrg(ctx, in)
		if err != nil {
			t.Fatalf("ResolveOrg(%q): %v", in, err)
		}
		if org != (chainguard.Org{ID: orgID, Name: "acme.example"}) {
			t.Errorf("ResolveOrg(%q) = %+v", in, org)
		}
	}
	if _, err := c.ResolveOrg(ctx, "nope.example"); !errors.Is(err, chainguard.ErrNotFound) {
		t.Errorf("ResolveOrg(unknown) = %v, want ErrNotFound", err)
	}

	repos, err := c.ListRepos(ctx, orgID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range repos {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff([]string{"a", "b", "plain"}, names); diff != "" {
		t.Errorf("ListRepos names (-want +got):\n%s", diff)
	}
	if !repos[0].CustomAssembly || repos[2].CustomAssembly {
		t.Errorf("CustomAssembly flags wrong: %+v", repos)
	}

	want := overlay.Overlay{Packages: []string{"curl"}, Environment: map[string]string{"A": "1"}}
	got, err := c.WriteOverlay(ctx, a.GetId(), want)
	if err != nil {
		t.Fatal(err)
	}
	if !overlay.Equal(got.Overlay, want) || !overlay.Equal(storedOverlay(emu, a.GetId()), want) {
		t.Errorf("written overlay = %+v", got.Overlay)
	}
	// Non-custom repos are refused by the API with its own message.
	_, err = c.WriteOverlay(ctx, repos[2].ID, want)
	if chainguard.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "custom_overlay can only be set for custom images") {
		t.Errorf("write to a plain repo: %v", err)
	}
	if chainguard.Retryable(err) {
		t.Errorf("PermissionDenied classified retryable")
	}
	if _, err := c.WriteOverlay(ctx, orgID+"/0123456789abcdef", want); !errors.Is(err, chainguard.ErrNotFound) {
		t.Errorf("write to a missing repo: %v", err)
	}
	if got := c.RegistryWrites(); got != writes {
		t.Errorf("RegistryWrites() = %q, want %q", got, writes)
	}
	wantCalls := append([]string{"Groups.List OK", "Groups.List OK", "Groups.List OK", "Registry.ListRepos OK"}, writeCalls...)
	if diff := cmp.Diff(wantCalls, obs.calls); diff != "" {
		t.Errorf("observed calls (-want +got):\n%s", diff)
	}
}

func TestBuilds(t *testing.T) {
	emu, url, orgID := startOrg(t, emulator.Options{BuildDuration: 20 * time.Millisecond})
	if err := emu.SetCatalog(orgID, []string{"curl"}); err != nil {
		t.Fatal(err)
	}
	r := emu.CreateRepo(orgID, &registryv1.Repo{Name: "a", ActiveTags: []string{"latest", "1"}, SyncConfig: &registryv1.SyncConfig{ApkoOverlay: "x"}})
	c := dial(t, chainguard.Config{URL: url})
	ctx := t.Context()
	start := time.Now().Add(-time.Second)
	if _, err := c.WriteOverlay(ctx, r.GetId(), overlay.Overlay{Packages: []string{"nosuch"}}); err != nil {
		t.Fatal(err)
	}
	var builds []chainguard.Build
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		builds, err = c.ListBuilds(ctx, orgID, start)
		if err != nil {
			t.Fatal(err)
		}
		if len(builds) == 2 && builds[0].Result != chainguard.BuildPending && builds[1].Result != chainguard.BuildPending {
			break
		}
	}
	if len(builds) != 2 {
		t.Fatalf("builds = %+v, want one per active tag", builds)
	}
	for _, b := range builds {
		if b.Result != chainguard.BuildFailure || b.RepoID != r.GetId() || b.CompletedAt.IsZero() {
			t.Errorf("build = %+v, want a completed failure of the repo", b)
		}
	}
	log, err := c.BuildLog(ctx, builds[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, `nosuch (no such package):`) {
		t.Errorf("log = %q", log)
	}
}

func TestTokens(t *testing.T) {
	const secret = "s3cr3t-token-value"
	emu, url := startEmulator(t, emulator.Options{Token: secret})
	emu.CreateOrg("acme.example")
	ctx := t.Context()

	_, err := dial(t, chainguard.Config{URL: url}).ResolveOrg(ctx, "acme.example")
	if chainguard.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v, want Unauthenticated", err)
	}
	wrong := dial(t, chainguard.Config{URL: url, Tokens: chainguard.StaticToken("wrong-" + secret)})
	_, err = wrong.ResolveOrg(ctx, "acme.example")
	if chainguard.Code(err) != codes.Unauthenticated || strings.Contains(err.Error(), secret) {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := dial(t, chainguard.Config{URL: url, Tokens: chainguard.StaticToken(secret)}).ResolveOrg(ctx, "acme.example"); err != nil {
		t.Errorf("static token: %v", err)
	}

	// A token file is re-read when it changes.
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := dial(t, chainguard.Config{URL: url, Tokens: chainguard.NewTokenFile(file)})
	if _, err := c.ResolveOrg(ctx, "acme.example"); chainguard.Code(err) != codes.Unauthenticated {
		t.Errorf("stale token file: %v", err)
	}
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute) // make sure the modification time moves
	if err := os.Chtimes(file, future, future); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ResolveOrg(ctx, "acme.example"); err != nil {
		t.Errorf("rotated token file: %v", err)
	}

	for _, v := range []any{chainguard.StaticToken(secret)} {
		for _, f := range []string{"%v", "%s", "%#v", "%+v"} {
			if s := fmt.Sprintf(f, v); strings.Contains(s, secret) {
				t.Errorf("%s of a token prints it: %s", f, s)
			}
		}
	}
}

func TestWorkloadIdentityRefreshes(t *testing.T) {
	var now time.Time
	idp, err := emulator.NewOIDCIssuer("https://cluster.example/oidc")
	if err != nil {
		t.Fatal(err)
	}
	emu, url, orgID := startOrg(t, emulator.Options{Issuers: []emulator.TrustedIssuer{idp.TrustedIssuer()}, TokenTTL: time.Minute})
	id, err := emu.CreateIdentity(orgID, idp.Issuer(), "system:serviceaccount:ca-reconciler:ca-reconciler")
	if err != nil {
		t.Fatal(err)
	}
	oidcFile := filepath.Join(t.TempDir(), "oidc-token")
	mint := func() string {
		tok, err := idp.Mint("system:serviceaccount:ca-reconciler:ca-reconciler", "issuer.enforce.dev", time.Now(), 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(oidcFile, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	oidcToken := mint()
	now = time.Now()
	wi := &chainguard.WorkloadIdentity{Issuer: url, Audience: url, Identity: id, OIDCTokenFile: oidcFile, Now: func() time.Time { return now }}
	c := dial(t, chainguard.Config{URL: url, Tokens: wi})
	ctx := t.Context()
	const exchange = oidcv1.SecurityTokenService_Exchange_FullMethodName
	for i := 0; i < 3; i++ {
		if _, err := c.ResolveOrg(ctx, "acme.example"); err != nil {
			t.Fatalf("call %d with workload identity: %v", i, err)
		}
	}
	if n := emu.Calls(exchange); n != 1 {
		t.Errorf("exchanges after three calls = %d, want 1 (the token is cached)", n)
	}
	first := wi.Expiry()
	if d := first.Sub(now); d < 50*time.Second || d > 61*time.Second {
		t.Errorf("token lifetime = %v, want about the TTL", d)
	}
	// Near expiry (within a fifth of its lifetime) the token is refreshed,
	// and the OIDC token file is read again.
	now = first.Add(-5 * time.Second)
	mint()
	if _, err := c.ResolveOrg(ctx, "acme.example"); err != nil {
		t.Fatalf("call after refresh: %v", err)
	}
	if n := emu.Calls(exchange); n != 2 {
		t.Errorf("exchanges after the refresh point = %d, want 2", n)
	}
	// A refused exchange names the identity but never the OIDC token.
	if err := os.WriteFile(oidcFile, []byte(oidcToken+"garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := &chainguard.WorkloadIdentity{Issuer: url, Audience: url, Identity: id, OIDCTokenFile: oidcFile}
	_, err = bad.Token(ctx)
	if err == nil || strings.Contains(err.Error(), oidcToken) || !strings.Contains(err.Error(), id) {
		t.Errorf("refused exchange error = %v", err)
	}
}

// An unreachable API gives a retryable deadline error within the call
// timeout instead of hanging (the SDK's calls wait for a ready server).
func TestUnreachableAPIHasADeadline(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	c := dial(t, chainguard.Config{URL: "http://" + addr, CallTimeout: 300 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := c.ListRepos(context.Background(), "x")
		done <- err
	}()
	select {
	case err := <-done:
		if !chainguard.Retryable(err) {
			t.Errorf("unreachable API error %v is not retryable", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("call to an unreachable API did not return")
	}
}

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url       string
		insecure  bool
		plaintext bool
		err       string
	}{
		{url: "https://console-api.enforce.dev"},
		{url: "http://127.0.0.1:8080", plaintext: true},
		{url: "http://localhost:8080", plaintext: true},
		{url: "http://[::1]:8080", plaintext: true},
		{url: "http://api.example.com", err: `API URL "http://api.example.com" is plaintext http to a host that is not loopback; use https:// or pass --insecure`},
		{url: "http://api.example.com", insecure: true, plaintext: true},
		{url: "grpc://api.example.com", err: `API URL "grpc://api.example.com": scheme must be https or http`},
		{url: "console-api.enforce.dev", err: `API URL "console-api.enforce.dev" has no host`},
		{url: "https://user:hunter2@api.example.com", err: `API URL "https://user:REDACTED@api.example.com" must not carry credentials`},
	} {
		plaintext, err := chainguard.CheckURL(tc.url, tc.insecure)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err || plaintext != tc.plaintext {
			t.Errorf("CheckURL(%q, %v) = %v, %q; want %v, %q", tc.url, tc.insecure, plaintext, got, tc.plaintext, tc.err)
		}
	}
	if _, err := chainguard.Dial(t.Context(), chainguard.Config{URL: "foo://x"}); err == nil {
		t.Error("Dial accepted an unknown scheme (the SDK would panic)")
	}
}

func TestMethodName(t *testing.T) {
	for in, want := range map[string]string{
		"/chainguard.platform.registry.Registry/ListRepos": "Registry.ListRepos",
		"/chainguard.platform.iam.Groups/List":             "Groups.List",
		"odd":                                              "odd",
	} {
		if got := chainguard.MethodName(in); got != want {
			t.Errorf("MethodName(%q) = %q, want %q", in, got, want)
		}
	}
}
