// Package deploy holds how ca-reconciler is shipped and run: the container
// image's test (the image is defined by ../.ko.yaml), the Kubernetes
// manifests (a kustomize base and an emulator overlay), the Helm chart, the
// Grafana dashboard and the Prometheus alert rules. It has no Go API; its
// tests render every manifest offline (kubectl kustomize, helm template),
// decode each object strictly into the Kubernetes API types, and check the
// flags they pass against the real binary's flags.
//
// deploy is a Go module of its own (github.com/ca-reconciler/ca-reconciler/deploy),
// so that the Kubernetes API types and the other test dependencies stay out
// of the daemon's go.mod. Run its tests from this folder: go test ./...
package deploy

// The kustomize base, the emulator overlay's manifests and the chart's seed
// are generated from the chart and examples/seed.yaml (internal/generated).
//go:generate go run ./cmd/generate
