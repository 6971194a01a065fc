package reconciler_test

import (
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// BenchmarkChangedFiles is the cycle after a push that changes 1,000 of
// 5,000 files, in detect mode (no writes): it reports the cycle's parse and
// plan phases as the daemon times them (reconcile_duration_seconds), the
// numbers issue 14's "parse + plan of 1,000 changed files ≤ 100 ms" is about.
func BenchmarkChangedFiles(b *testing.B) {
	w, _ := scaleWorld(b, 5000)
	h := w.reconciler(vocab.ModeDetect, zap.NewNop(), nil)
	ctx := b.Context()
	if rep := h.r.RunOnce(ctx, vocab.TriggerStart); rep.Err != nil {
		b.Fatal(rep.Err)
	}
	round := 0
	var parse, plan time.Duration
	for b.Loop() {
		b.StopTimer()
		round++
		files := map[string]string{}
		for i := range 1000 {
			files[fmt.Sprintf("ca-images-iac/repo-%04d.yaml", i)] = scaleFile(i) + fmt.Sprintf("  # round %d\n", round)
		}
		w.git.commit(files)
		p0, q0 := phaseSum(b, h, vocab.PhaseParse), phaseSum(b, h, vocab.PhasePlan)
		b.StartTimer()
		rep := h.r.RunOnce(ctx, vocab.TriggerWebhook)
		b.StopTimer()
		if rep.Err != nil || rep.Parsed != 1000 {
			b.Fatalf("cycle: %v, %d files parsed", rep.Err, rep.Parsed)
		}
		parse += phaseSum(b, h, vocab.PhaseParse) - p0
		plan += phaseSum(b, h, vocab.PhasePlan) - q0
		b.StartTimer()
	}
	b.ReportMetric(float64(parse.Microseconds())/1000/float64(b.N), "parse-ms/op")
	b.ReportMetric(float64(plan.Microseconds())/1000/float64(b.N), "plan-ms/op")
}

// phaseSum is the total time the reconciler spent in a phase.
func phaseSum(tb testing.TB, h harness, p vocab.Phase) time.Duration {
	tb.Helper()
	fams, err := h.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "ca_reconciler_reconcile_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelIs(m, "phase", string(p)) {
				return time.Duration(m.GetHistogram().GetSampleSum() * float64(time.Second))
			}
		}
	}
	tb.Fatalf("no reconcile_duration_seconds{phase=%q}", p)
	return 0
}

func labelIs(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
}
