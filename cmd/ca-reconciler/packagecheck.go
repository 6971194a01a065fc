package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/ca-reconciler/ca-reconciler/packagecheck"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
)

// minPackageIndexInterval is the floor of --package-index-interval: a
// read of the index is every page of ListAPKs for every architecture
// (some 50 calls for 5,000 packages).
const minPackageIndexInterval = time.Minute

// addPackageCheckFlags adds the package check's flags (run and plan).
func (o *options) addPackageCheckFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.packageCheck, "package-check", true, "check every overlay about to be written against the organization's package index (needs apk.list; skipped with a warning without it)")
	fs.DurationVar(&o.packageIndexInterval, "package-index-interval", packagecheck.DefaultInterval, "how long the organization's package index is reused before it is read again (at least 1m; a package it lacks is looked for at once)")
}

func (o *options) checkPackageCheck() error {
	if o.packageCheck && o.packageIndexInterval < minPackageIndexInterval {
		return fmt.Errorf("--package-index-interval %s is below the minimum of %s (each read lists every package of the organization)", o.packageIndexInterval, minPackageIndexInterval)
	}
	return nil
}

// newPackageCheck makes the package checker over the daemon's API client,
// its index files in a fresh folder of the system's temporary folder
// (removed at exit), and the reconciler option that runs it.
func newPackageCheck(d *daemon, o *options) (reconciler.Option, error) {
	c, err := packagecheck.New(d.api, packagecheck.Config{
		Interval: o.packageIndexInterval,
		Dir:      os.TempDir(),
		Logger:   d.log.Named("packagecheck"),
		Observer: d.metrics.PackageCheck,
	})
	if err != nil {
		return nil, fmt.Errorf("--package-check: %w", err)
	}
	d.closers = append(d.closers, func() { _ = c.Close() })
	return reconciler.WithPackageCheck(c, o.packageIndexInterval), nil
}
