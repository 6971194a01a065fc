// Package layout holds no code: it is the repository's own checks and its
// one regeneration path. Its tests hold README.md's package map to the
// packages that exist (in both modules) and keep internal/testenv out of
// non-test code; its go:generate line runs the deploy module's generators,
// which `go generate ./...` at the root does not enter on its own (deploy/
// is a separate module). So one command, `go generate ./...` at the root,
// rewrites every generated file: the README's flag and metric tables, the
// overlay parser's golden errors, vocab/vocab.go, and the deploy files
// (kustomize base, emulator overlay, the chart's seed).
package layout

//go:generate go -C ../../deploy generate ./...
