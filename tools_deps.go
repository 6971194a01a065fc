//go:build deps

// Package main is never built: it pins the project's direct dependencies in
// go.mod while packages are being written.
package main

import (
	_ "chainguard.dev/sdk/proto/platform"
	_ "chainguard.dev/sdk/sts"
	_ "github.com/cenkalti/backoff/v4"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/prometheus/client_golang/prometheus/promauto"
	_ "github.com/spf13/cobra"
	_ "go.uber.org/zap/zaptest"
	_ "gopkg.in/yaml.v3"
)
