package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/ca-reconciler/ca-reconciler/gitsource"
	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// cost is what one way of applying a push costs.
type cost struct {
	calls, updates, builds int
	wall                   time.Duration
}

func (c cost) div(n int) cost {
	return cost{calls: c.calls / n, updates: c.updates / n, builds: c.builds / n, wall: c.wall / time.Duration(n)}
}

func (w *world) measure(f func() error) (cost, error) {
	calls0, up0 := w.apiCalls()
	b0 := w.builds()
	start := time.Now()
	err := f()
	wall := time.Since(start)
	calls1, up1 := w.apiCalls()
	return cost{calls: calls1 - calls0, updates: up1 - up0, builds: w.builds() - b0, wall: wall}, err
}

// reapplyAll is the baseline: the CI job that applies every file on every
// push, as `chainctl image repo build apply -f FILE` does for each file.
func (w *world) reapplyAll(ctx context.Context) error {
	org, err := w.client.ResolveOrg(ctx, org)
	if err != nil {
		return err
	}
	repos, err := w.client.ListRepos(ctx, org.ID)
	if err != nil {
		return err
	}
	ids := map[string]string{}
	for _, r := range repos {
		ids[r.Name] = r.ID
	}
	entries, err := os.ReadDir(filepath.Join(w.dir, "ca-images-iac"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(w.dir, "ca-images-iac", e.Name()))
		if err != nil {
			return err
		}
		o, err := overlay.Parse(e.Name(), data)
		if err != nil {
			return err
		}
		if _, err := w.client.WriteOverlay(ctx, ids[strings.TrimSuffix(e.Name(), ".yaml")], o); err != nil {
			return err
		}
	}
	return nil
}

type results struct {
	repos, pushes                         int
	pollInterval                          time.Duration
	pushBase, pushOurs, idleBase, idleOur cost
	webhook, polling                      []time.Duration
}

func run(n, pushes int, pollInterval time.Duration, out string) error {
	ctx := context.Background()
	w, err := newWorld(n)
	if err != nil {
		return err
	}
	defer w.close()
	res := results{repos: n, pushes: pushes, pollInterval: pollInterval}

	r, err := w.reconciler(time.Hour)
	if err != nil {
		return err
	}
	if rep := r.RunOnce(ctx, "start"); rep.Err != nil || len(rep.Writes) != 0 {
		return fmt.Errorf("warm-up cycle: err=%v writes=%d (the world should start in sync)", rep.Err, len(rep.Writes))
	}

	// A push changing one file: baseline, then ours, alternating.
	for p := 0; p < pushes; p++ {
		if _, err := w.change(p % n); err != nil {
			return err
		}
		c, err := w.measure(func() error { return w.reapplyAll(ctx) })
		if err != nil {
			return err
		}
		res.pushBase = add(res.pushBase, c)
		if _, err := w.change((p + 1) % n); err != nil {
			return err
		}
		c, err = w.measure(func() error {
			if rep := r.RunOnce(ctx, "webhook"); rep.Err != nil || len(rep.Writes) != 1 {
				return fmt.Errorf("cycle after a push: err=%v writes=%d, want 1", rep.Err, len(rep.Writes))
			}
			return nil
		})
		if err != nil {
			return err
		}
		res.pushOurs = add(res.pushOurs, c)
	}
	// Nothing changed: the CI job re-run against one poll cycle.
	for p := 0; p < pushes; p++ {
		c, err := w.measure(func() error { return w.reapplyAll(ctx) })
		if err != nil {
			return err
		}
		res.idleBase = add(res.idleBase, c)
		c, err = w.measure(func() error {
			if rep := r.RunOnce(ctx, "interval"); rep.Err != nil || len(rep.Writes) != 0 {
				return fmt.Errorf("idle cycle: err=%v writes=%d", rep.Err, len(rep.Writes))
			}
			return nil
		})
		if err != nil {
			return err
		}
		res.idleOur = add(res.idleOur, c)
	}
	res.pushBase, res.pushOurs = res.pushBase.div(pushes), res.pushOurs.div(pushes)
	res.idleBase, res.idleOur = res.idleBase.div(pushes), res.idleOur.div(pushes)

	if res.webhook, err = latency(ctx, w, pushes, time.Hour, true); err != nil {
		return err
	}
	if res.polling, err = latency(ctx, w, pushes, pollInterval, false); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(report(res)), 0o644)
}

func add(a, b cost) cost {
	return cost{calls: a.calls + b.calls, updates: a.updates + b.updates, builds: a.builds + b.builds, wall: a.wall + b.wall}
}

const benchSecret = "bench-webhook-secret"

// latency measures push-to-write: from the commit landing to the repo being
// written, through a signed webhook over HTTP, or by waiting for the poll.
func latency(ctx context.Context, w *world, pushes int, interval time.Duration, webhook bool) ([]time.Duration, error) {
	r, err := w.reconciler(interval)
	if err != nil {
		return nil, err
	}
	secretFile := filepath.Join(w.tmp, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(benchSecret), 0o600); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	for p, h := range gitsource.WebhookHandlers(gitsource.WebhookConfig{SecretFile: secretFile, Trigger: r.Trigger}) {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// Let the start cycle clone and settle.
	time.Sleep(500 * time.Millisecond)
	var out []time.Duration
	for p := 0; p < pushes; p++ {
		i := (p * 7) % w.n
		want, err := w.change(i)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		if webhook {
			if err := postHook(srv.URL + "/hooks/generic"); err != nil {
				return nil, err
			}
		}
		deadline := start.Add(3*interval + 30*time.Second)
		for !overlay.Equal(w.live(i), want) {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("push %d was not written", p)
			}
			time.Sleep(time.Millisecond)
		}
		out = append(out, time.Since(start))
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out, nil
}

func postHook(url string) error {
	body := `{"ref":"refs/heads/main"}`
	mac := hmac.New(sha256.New, []byte(benchSecret))
	mac.Write([]byte(body))
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}

func pct(d []time.Duration, p float64) time.Duration {
	return d[int(float64(len(d)-1)*p)]
}

func ratio(base, ours float64) string {
	if ours == 0 {
		return "∞"
	}
	return fmt.Sprintf("%.1f×", base/ours)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func report(r results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `go run ./cmd/bench` (%s, %s/%s, %d CPUs, %s). Everything runs on loopback: the emulator\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "over real gRPC with the SDK's client, real Git repositories. %d repos, each managed by one file; every\n", r.repos)
	fmt.Fprintf(&b, "number is the mean of %d runs, taken in the same process, alternating baseline and ca-reconciler.\n\n", r.pushes)
	b.WriteString("Baseline: the CI job teams run today, which applies every file on every push\n")
	b.WriteString("(`chainctl image repo build apply -f FILE` for each file: resolve the org, list repos, then read and\n")
	b.WriteString("write each repo). Ratio = baseline / ca-reconciler (higher is better for ca-reconciler).\n\n")
	b.WriteString("## A push that changes one file\n\n| measure | baseline | ca-reconciler | ratio |\n|---|---|---|---|\n")
	row := func(name string, base, ours float64, f func(float64) string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, f(base), f(ours), ratio(base, ours))
	}
	num := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	dur := func(v float64) string { return ms(time.Duration(v)) }
	row("API calls", float64(r.pushBase.calls), float64(r.pushOurs.calls), num)
	row("repo writes (UpdateRepo)", float64(r.pushBase.updates), float64(r.pushOurs.updates), num)
	row("image builds started", float64(r.pushBase.builds), float64(r.pushOurs.builds), num)
	row("wall time", float64(r.pushBase.wall), float64(r.pushOurs.wall), dur)
	b.WriteString("\n## Nothing changed (a poll, or the CI job re-run)\n\n| measure | baseline | ca-reconciler | ratio |\n|---|---|---|---|\n")
	row("API calls", float64(r.idleBase.calls), float64(r.idleOur.calls), num)
	row("repo writes (UpdateRepo)", float64(r.idleBase.updates), float64(r.idleOur.updates), num)
	row("image builds started", float64(r.idleBase.builds), float64(r.idleOur.builds), num)
	row("wall time", float64(r.idleBase.wall), float64(r.idleOur.wall), dur)
	fmt.Fprintf(&b, "\n## Push-to-write latency\n\nFrom the commit landing to the repo's overlay being written. Baseline: polling every %s\n", r.pollInterval)
	b.WriteString("(the daemon without a webhook; real deployments poll every minute, which scales the baseline up).\n\n")
	b.WriteString("| percentile | polling | webhook | ratio |\n|---|---|---|---|\n")
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p90", 0.9}, {"max", 1}} {
		pl, wh := pct(r.polling, p.q), pct(r.webhook, p.q)
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", p.name, ms(pl), ms(wh), ratio(float64(pl), float64(wh)))
	}
	b.WriteString("\n## Reading these numbers\n\n")
	b.WriteString("- Wall time of a push cycle is where the baseline keeps up here: on loopback the emulator answers a call\n")
	b.WriteString("  in well under a millisecond, so the baseline's calls are nearly free, while about 100 ms of ca-reconciler's\n")
	b.WriteString("  cycle is go-git fetching the new commit (a block profile shows it waiting on the `git-upload-pack`\n")
	b.WriteString("  subprocess; go-git alone takes about 95 ms for the same shallow fetch, the git CLI about 65 ms). Against\n")
	b.WriteString("  the real API each call is a network round trip, so the baseline's wall time grows with the number of repos\n")
	b.WriteString("  while ours does not. The calls, writes and builds rows are what costs in production: every write starts\n")
	b.WriteString("  one build per active tag. On a loaded machine every wall-time row moves; the counts do not.\n")
	b.WriteString("- An idle poll is one `ls-remote` and one `ListRepos`: parsing is skipped while the revision is unchanged.\n")
	b.WriteString("- Webhook latency is one fetch plus one cycle; polling latency is up to one interval more.\n")
	b.WriteString("\nMicro-benchmarks (`go test -bench . -benchmem ./overlay/ ./reconciler/`) cover parsing and planning.\n")
	return b.String()
}
