package chainguard_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
)

// unsignedJWT is a token with the given claims and a signature nobody
// checks: TokenNames reads the daemon's own token without verifying it.
func unsignedJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte("signature"))
}

func TestTokenNames(t *testing.T) {
	for _, tc := range []struct {
		name, token string
		want        []string
	}{
		{"subject and email", unsignedJWT(`{"iss":"https://issuer.enforce.dev","sub":"org/ident","email":"robot@example.com"}`), []string{"org/ident", "robot@example.com"}},
		{"subject only", unsignedJWT(`{"sub":"org/ident"}`), []string{"org/ident"}},
		{"with the Bearer scheme", "Bearer " + unsignedJWT(`{"sub":"org/ident"}`), []string{"org/ident"}},
		{"no subject", unsignedJWT(`{"email":"robot@example.com"}`), nil},
		{"opaque", "api-token", nil},
		{"payload not base64", "a.%%%.c", nil},
		{"payload not JSON", "a." + base64.RawURLEncoding.EncodeToString([]byte("nope")) + ".c", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := chainguard.TokenNames(tc.token); !slices.Equal(got, tc.want) {
				t.Errorf("TokenNames = %q, want %q", got, tc.want)
			}
		})
	}
}

// Self follows a rotated token file; while the file cannot be read, the
// last token's names stand.
func TestSelfFollowsTheTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	write := func(tok string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(unsignedJWT(`{"sub":"org/first"}`))
	self := chainguard.NewSelf(chainguard.NewTokenFile(file))
	if got := self.Names(t.Context()); !slices.Equal(got, []string{"org/first"}) {
		t.Errorf("Names = %q, want org/first", got)
	}
	write(unsignedJWT(`{"sub":"org/second-identity"}`)) // another size: re-read
	if got := self.Names(t.Context()); !slices.Equal(got, []string{"org/second-identity"}) {
		t.Errorf("after rotation, Names = %q, want org/second-identity", got)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if got := self.Names(t.Context()); !slices.Equal(got, []string{"org/second-identity"}) {
		t.Errorf("with the file gone for now, Names = %q, want the last token's org/second-identity", got)
	}
	write("api-token") // a token that is no JWT names nobody
	if got := self.Names(t.Context()); got != nil {
		t.Errorf("an opaque token in the file: Names = %q, want none", got)
	}
	if got := chainguard.NewSelf(chainguard.StaticToken("api-token")).Names(t.Context()); got != nil {
		t.Errorf("an opaque static token: Names = %q, want none", got)
	}
}
