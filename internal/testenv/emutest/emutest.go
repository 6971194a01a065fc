// Package emutest starts the emulator for the tests of several packages: on
// loopback TCP, closed when the test ends; and holds the package index
// their package checks share (Catalog). It is apart from testenv so that
// testenv depends on the SDK and the standard library only; only tests
// import it.
package emutest

import (
	"testing"

	"github.com/ca-reconciler/ca-reconciler/emulator"
)

// Start runs an emulator with opts on a free loopback port, closed when the
// test (or benchmark) ends, and returns it with its URL.
func Start(t testing.TB, opts emulator.Options) (*emulator.Server, string) {
	t.Helper()
	emu := emulator.New(opts)
	t.Cleanup(emu.Close)
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return emu, url
}
