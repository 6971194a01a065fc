package main

import (
	"fmt"
	"net/http"

	"github.com/ca-reconciler/ca-reconciler/buildwatch"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/statuspage"
)

// newBuildWatcher follows the builds of the repos d's reconciler knows. The
// reconciler is read lazily: it is created after the watcher, which it is
// given.
func newBuildWatcher(d *daemon, o *options) (*buildwatch.Watcher, error) {
	w, err := buildwatch.New(buildwatch.Config{
		API:           d.api,
		Metrics:       d.metrics,
		Logger:        d.log.Named("builds"),
		Repos:         func() map[string]string { return d.reconciler.RepoIDs() },
		OnResult:      func(r buildwatch.Result) { d.reconciler.RecordBuild(r.Repo, buildInfo(r)) },
		PollInterval:  o.buildPollInterval,
		SweepInterval: o.interval,
		Timeout:       o.buildTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("configuring the build watcher: %w", err)
	}
	return w, nil
}

func buildInfo(r buildwatch.Result) reconciler.BuildInfo {
	return reconciler.BuildInfo{ID: r.BuildID, Result: r.Result, Finished: r.Finished, Seconds: r.Duration().Seconds()}
}

// statusPageRoute adds the HTML status page at / to routes.
func statusPageRoute(d *daemon, routes map[string]http.Handler) (map[string]http.Handler, error) {
	page, err := statuspage.New(statuspage.Options{Version: version})
	if err != nil {
		return nil, err
	}
	if routes == nil {
		routes = map[string]http.Handler{}
	}
	routes["GET /{$}"] = page.Handler(d.reconciler.Status)
	return routes, nil
}
