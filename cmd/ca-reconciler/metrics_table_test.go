package main

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ca-reconciler/ca-reconciler/metrics"
)

// metricsTable documents every ca_reconciler_* family the binary registers,
// from the registry itself.
func metricsTable(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	// Touch the label-less-until-used vectors so that every family is gathered.
	m.SetRepoStatus("r", "", "synced")
	m.ObserveDrift("r")
	m.ObserveAPIRequest("Registry.ListRepos", "OK", 0.1)
	m.SetSource("main", "abc", 1)
	m.ObserveBuild("r", "success", 1)
	m.CommitStatusReports.WithLabelValues("sent")
	m.Notifications.WithLabelValues("0", "sent")
	m.ChainguardEvents.WithLabelValues("accepted")
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].GetName() < fams[j].GetName() })
	var b strings.Builder
	b.WriteString("| metric | type | labels | meaning |\n|---|---|---|---|\n")
	for _, f := range fams {
		labels := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		names := make([]string, 0, len(labels))
		for l := range labels {
			names = append(names, "`"+l+"`")
		}
		sort.Strings(names)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.GetName(), typeName(f.GetType()), strings.Join(names, ", "), f.GetHelp())
	}
	return b.String()
}

func typeName(t dto.MetricType) string {
	return strings.ToLower(t.String())
}
