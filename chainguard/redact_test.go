package chainguard_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// echoServer is a gRPC server that answers every call with PermissionDenied
// and the request's Authorization header and its token in the message, as some proxies do.
func echoServer(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		return status.Errorf(codes.PermissionDenied, "refused request with Authorization: %s (token %s)",
			strings.Join(md.Get("authorization"), ", "), strings.TrimPrefix(strings.Join(md.Get("authorization"), ""), "Bearer "))
	}))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return "http://" + lis.Addr().String()
}

// A token the server echoes back never reaches an error: not a static
// token, not a JWT from a token file, in any of the forms the redactor knows.
func TestAPIErrorsCarryNoToken(t *testing.T) {
	url := echoServer(t)
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYS1yZWNvbmNpbGVyIn0.c2lnbmF0dXJlLWJ5dGVz"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(jwt+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tokens chainguard.TokenSource
		secret string
	}{
		{"static token", chainguard.StaticToken("s3cr3t-static-token"), "s3cr3t-static-token"},
		{"token file", chainguard.NewTokenFile(file), jwt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, chainguard.Config{URL: url, Tokens: tc.tokens})
			ctx := t.Context()
			calls := map[string]func() error{
				"ListRepos":    func() error { _, err := c.ListRepos(ctx, "org"); return err },
				"ResolveOrg":   func() error { _, err := c.ResolveOrg(ctx, "acme.example"); return err },
				"WriteOverlay": func() error { _, err := c.WriteOverlay(ctx, "org/repo", overlayWithPackage("curl")); return err },
			}
			for name, call := range calls {
				err := call()
				if err == nil {
					t.Fatalf("%s: no error from a server that refuses everything", name)
				}
				msg := fmt.Sprintf("%v %+v %s", err, err, err)
				if strings.Contains(msg, tc.secret) {
					t.Errorf("%s: the error carries the token: %s", name, msg)
				}
				if !strings.Contains(msg, "REDACTED") {
					t.Errorf("%s: the echo was not redacted, or not echoed: %s", name, msg)
				}
				if chainguard.Code(err) != codes.PermissionDenied || chainguard.Retryable(err) {
					t.Errorf("%s: Code = %v, Retryable = %v; want PermissionDenied, permanent", name, chainguard.Code(err), chainguard.Retryable(err))
				}
			}
		})
	}
}

func overlayWithPackage(p string) overlay.Overlay { return overlay.Overlay{Packages: []string{p}} }
