package main

import (
	"fmt"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

func newEmulatorCommand(getenv env) *cobra.Command {
	var (
		listen        string
		seedFile      string
		buildDuration time.Duration
		latency       time.Duration
		token         string
	)
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run the Chainguard API emulator alone, for demos and other clients",
		Long: `Run an in-memory gRPC server speaking the Chainguard API (IAM groups, registry repos in v1
and v2, build reports) as the SDK's clients call it. Point ca-reconciler (or any SDK client) at
http://ADDR. With --token, every call must carry it as a bearer token; --latency delays every
call, to show wall time as against the real API. Subscriptions created through its
events Subscriptions service receive the platform's CloudEvents for every repo change,
signed by the emulator's own OIDC issuer, served at the same address.
On exit it prints the number of requests per method and code.`,
		Example: `  ca-reconciler emulator --listen 127.0.0.1:8080 --seed examples/seed.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := emulator.Options{BuildDuration: buildDuration, Token: token, Latency: latency}
			emu := emulator.New(opts)
			defer emu.Close()
			if seedFile != "" {
				seed, err := emulator.LoadSeed(seedFile)
				if err != nil {
					return fmt.Errorf("loading --seed: %w", err)
				}
				if err := emu.ApplySeed(seed); err != nil {
					return fmt.Errorf("applying --seed: %w", err)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "emulator listening on http://%s (events issuer http://%s)\n", lis.Addr(), lis.Addr())
			errc := make(chan error, 1)
			go func() { errc <- emu.Serve(lis) }()
			select {
			case <-ctx.Done():
			case err := <-errc:
				if err != nil {
					return fmt.Errorf("serving: %w", err)
				}
			}
			return emu.WriteCounts(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&seedFile, "seed", "", "YAML file of orgs, repos and package catalogs to load at start")
	cmd.Flags().StringVar(&token, "token", "", "require this bearer token on every call")
	cmd.Flags().DurationVar(&buildDuration, "build-duration", 5*time.Second, "how long a simulated build takes")
	cmd.Flags().DurationVar(&latency, "latency", 0, "fixed delay added to every call, to stand for the real API's round trip (e.g. 50ms)")
	bindEnv(cmd, getenv)
	return cmd
}
