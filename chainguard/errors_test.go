package chainguard_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"
	"google.golang.org/grpc/codes"

	"github.com/ca-reconciler/ca-reconciler/chainguard"
	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// Each class of failure, produced for real over gRPC: a write over the
// server's 4 MiB receive limit, an answer over the client's receive limit,
// and a server that rate limits (ResourceExhausted for a reason other than
// size).
func TestErrorClasses(t *testing.T) {
	emu, url, orgID := startOrg(t, emulator.Options{})
	a := emu.CreateRepo(orgID, customRepo("a"))
	ctx := t.Context()
	huge := overlay.Overlay{Annotations: map[string]string{"com.example.blob": strings.Repeat("x", 5<<20)}}

	for _, tc := range []struct {
		name      string
		run       func(c *chainguard.Client) error
		maxRecv   int
		fault     string
		code      codes.Code
		tooLarge  bool
		retryable bool
		message   string // a regular expression for the whole error
	}{{
		name:     "a write over the server's limit",
		run:      func(c *chainguard.Client) error { _, err := c.WriteOverlay(ctx, a.GetId(), huge); return err },
		code:     codes.ResourceExhausted,
		tooLarge: true,
		message:  `^updating repo a \(` + regexp.QuoteMeta(a.GetId()) + `\): message larger than the API's limit: rpc error: code = ResourceExhausted desc = grpc: received message larger than max \(\d+ vs\. 4194304\)$`,
	}, {
		name:     "an answer over the client's limit",
		run:      func(c *chainguard.Client) error { _, err := c.ListRepos(ctx, orgID); return err },
		maxRecv:  64,
		code:     codes.ResourceExhausted,
		tooLarge: true,
		message:  `^listing repos of ` + regexp.QuoteMeta(orgID) + `: message larger than the API's limit: rpc error: code = ResourceExhausted desc = grpc: received message larger than max \(\d+ vs\. 64\)$`,
	}, {
		name: "rate limited",
		run: func(c *chainguard.Client) error {
			_, err := c.WriteOverlay(ctx, a.GetId(), overlay.Overlay{})
			return err
		},
		fault:     registryv2.ReposService_UpdateRepo_FullMethodName,
		code:      codes.ResourceExhausted,
		retryable: true,
		message:   `^updating repo a \(` + regexp.QuoteMeta(a.GetId()) + `\): rpc error: code = ResourceExhausted desc = injected fault$`,
	}, {
		name:      "unavailable",
		run:       func(c *chainguard.Client) error { _, err := c.ListRepos(ctx, orgID); return err },
		fault:     registryv1.Registry_ListRepos_FullMethodName,
		code:      codes.Unavailable,
		retryable: true,
		message:   `^listing repos of ` + regexp.QuoteMeta(orgID) + `: rpc error: code = Unavailable desc = injected fault$`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault != "" {
				emu.InjectFault(tc.fault, tc.code, 1)
				t.Cleanup(emu.ClearFaults)
			}
			c := dial(t, chainguard.Config{URL: url, MaxReceiveBytes: tc.maxRecv})
			err := tc.run(c)
			if err == nil {
				t.Fatal("no error")
			}
			if !regexp.MustCompile(tc.message).MatchString(err.Error()) {
				t.Errorf("error = %q, want it to match %s", err, tc.message)
			}
			if got := chainguard.Code(err); got != tc.code {
				t.Errorf("Code = %v, want %v", got, tc.code)
			}
			if got := chainguard.TooLarge(err); got != tc.tooLarge {
				t.Errorf("TooLarge = %v, want %v", got, tc.tooLarge)
			}
			if got := errors.Is(err, chainguard.ErrTooLarge); got != tc.tooLarge {
				t.Errorf("errors.Is(err, ErrTooLarge) = %v, want %v", got, tc.tooLarge)
			}
			if got := chainguard.Retryable(err); got != tc.retryable {
				t.Errorf("Retryable = %v, want %v", got, tc.retryable)
			}
		})
	}
	if got := storedOverlay(emu, a.GetId()); !overlay.Equal(got, overlay.Overlay{}) {
		t.Errorf("a refused write changed the repo: %+v", got)
	}
}

func TestRetryableWithoutAServer(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{context.Canceled, false},
		{errors.New("plain"), false},
		{fmt.Errorf("x: %w", chainguard.ErrTooLarge), false},
	} {
		if got := chainguard.Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
