package main

import (
	"fmt"
	"net/http"

	"github.com/ca-reconciler/ca-reconciler/buildwatch"
	"github.com/ca-reconciler/ca-reconciler/repopage"
	"github.com/ca-reconciler/ca-reconciler/statuspage"
)

// newBuildWatcher follows the builds of the repos in d's store, and records
// each repo's last build there.
func newBuildWatcher(d *daemon, o *options) (*buildwatch.Watcher, error) {
	w, err := buildwatch.New(buildwatch.Config{
		API:           d.api,
		Metrics:       d.metrics,
		Logger:        d.log.Named("builds"),
		Repos:         d.store,
		PollInterval:  o.buildPollInterval,
		SweepInterval: o.interval,
		Timeout:       o.buildTimeout,
		OnResult:      d.feedback.build,
	})
	if err != nil {
		return nil, fmt.Errorf("configuring the build watcher: %w", err)
	}
	return w, nil
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
	routes["GET /{$}"] = page.Handler(d.store.Status)
	repos, err := repopage.New(repopage.Options{Version: version, Org: d.store.Status().Org})
	if err != nil {
		return nil, err
	}
	routes[repopage.Pattern] = repos.Handler(d.store, d.feedback.history)
	return routes, nil
}
