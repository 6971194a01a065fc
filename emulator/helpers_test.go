package emulator_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"chainguard.dev/sdk/auth"
	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	"chainguard.dev/sdk/proto/platform"
	commonv1 "chainguard.dev/sdk/proto/platform/common/v1"
	iamv1 "chainguard.dev/sdk/proto/platform/iam/v1"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/emutest"
)

const (
	updateRepo       = registryv1.Registry_UpdateRepo_FullMethodName
	listRepos        = registryv1.Registry_ListRepos_FullMethodName
	listBuildReports = registryv1.Registry_ListBuildReports_FullMethodName
	listGroups       = iamv1.Groups_List_FullMethodName
)

// start runs an emulator on loopback TCP, closed when the test ends.
func start(t *testing.T, opts emulator.Options) (*emulator.Server, string) {
	t.Helper()
	if opts.BuildDuration == 0 {
		opts.BuildDuration = 50 * time.Millisecond
	}
	emu, url := emutest.Start(t, opts)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("Start returned %q, want http://127.0.0.1:PORT", url)
	}
	return emu, url
}

// dial connects the SDK's own clients with a bearer token (which an
// emulator without authentication ignores).
func dial(t *testing.T, url, token string) platform.Clients {
	t.Helper()
	if token == "" {
		token = "unchecked"
	}
	ctx := t.Context()
	clients, err := platform.NewPlatformClients(ctx, url, auth.NewFromToken(ctx, "Bearer "+token, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = clients.Close() })
	return clients
}

// startAndDial is start, then dial with no token: the set-up of most tests.
func startAndDial(t *testing.T, opts emulator.Options) (*emulator.Server, platform.Clients) {
	t.Helper()
	emu, url := start(t, opts)
	return emu, dial(t, url, "")
}

// dialB is dial for benchmarks.
func dialB(b *testing.B, url string) platform.Clients {
	b.Helper()
	clients, err := platform.NewPlatformClients(b.Context(), url, auth.NewFromToken(b.Context(), "Bearer x", false))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = clients.Close() })
	return clients
}

// customRepo is a Custom Assembly repo with every field set.
var customRepo = testenv.CustomRepo

// readRepo reads one repo through the API.
func readRepo(t *testing.T, c platform.Clients, id string) *registryv1.Repo {
	t.Helper()
	list, err := c.Registry().Registry().ListRepos(t.Context(), &registryv1.RepoFilter{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetItems()) != 1 {
		t.Fatalf("ListRepos{Id: %s} = %d repos, want 1", id, len(list.GetItems()))
	}
	return list.GetItems()[0]
}

// wantStatus checks an error's gRPC code and message exactly.
func wantStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || st.Message() != msg {
		t.Errorf("error = %v (%s %q), want %s %q", err, st.Code(), st.Message(), code, msg)
	}
}

// reports lists a scope's build reports through the API.
func reports(t *testing.T, c platform.Clients, scope string, excludeLogs bool) []*registryv1.BuildReport {
	t.Helper()
	list, err := c.Registry().Registry().ListBuildReports(t.Context(), &registryv1.BuildReportFilter{
		Uidp:        &commonv1.UIDPFilter{DescendantsOf: scope},
		ExcludeLogs: excludeLogs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return list.GetReports()
}

// eventually polls cond every 10ms until it holds or 5s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pemMaterial is a freshly made CA certificate and RSA public key, PEM
// encoded, for overlays that carry certificates and runtime keys.
type pemMaterial struct {
	cert, rsaKey, ecKey, privateKey string
}

func newPEM(t *testing.T) pemMaterial {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Emulator Test CA"},
		NotBefore:             time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(typ string, b []byte) string { return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})) }
	return pemMaterial{
		cert:       enc("CERTIFICATE", der),
		rsaKey:     enc("PUBLIC KEY", pub),
		ecKey:      enc("PUBLIC KEY", ecPub),
		privateKey: enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)),
	}
}

// indent prefixes every line of s with n spaces, for YAML block scalars.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+pad) + "\n"
}

// reposV2 is the SDK's v2 ReposService client over the same connection.
func reposV2(c platform.Clients) registryv2.Clients {
	return registryv2.NewClientsFromConnection(c.Connection())
}
