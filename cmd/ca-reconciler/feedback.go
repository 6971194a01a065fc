package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/ca-reconciler/ca-reconciler/buildwatch"
	"github.com/ca-reconciler/ca-reconciler/cgevents"
	"github.com/ca-reconciler/ca-reconciler/commitstatus"
	"github.com/ca-reconciler/ca-reconciler/notify"
	"github.com/ca-reconciler/ca-reconciler/reconciler"
	"github.com/ca-reconciler/ca-reconciler/repopage"
	"github.com/ca-reconciler/ca-reconciler/store"
	"github.com/ca-reconciler/ca-reconciler/vocab"
)

// feedbackOptions are the flags of what the daemon tells people: the
// page's public URL, commit statuses, notifications and Chainguard's events.
type feedbackOptions struct {
	externalURL string

	commitStatus          string
	commitStatusURL       string
	commitStatusTokenFile string
	commitStatusRepo      string

	notifyURLs    []string
	notifyURLFile string
	notify        []notify.Target

	chainguardEvents bool
}

func (f *feedbackOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.externalURL, "external-url", "", "URL at which people reach this daemon's page (the link of commit statuses and notifications)")
	fs.StringVar(&f.commitStatus, "commit-status", "", "report each revision on its commit: github or gitlab (default off)")
	fs.StringVar(&f.commitStatusURL, "commit-status-url", "", "API base URL for --commit-status (default https://api.github.com or https://gitlab.com/api/v4; GitHub Enterprise: https://HOST/api/v3)")
	fs.StringVar(&f.commitStatusTokenFile, "commit-status-token-file", "", "file holding the API token for --commit-status, re-read for every report")
	fs.StringVar(&f.commitStatusRepo, "commit-status-repo", "", "owner/repo (GitHub) or project id or path (GitLab) to report on (default derived from --git-url)")
	fs.StringArrayVar(&f.notifyURLs, "notify-url", nil, "POST notifications here (repeatable; comma-separated in the environment): Slack's format for hooks.slack.com, else JSON")
	fs.StringVar(&f.notifyURLFile, "notify-url-file", "", "file of notification URLs, one per line, read at start (for URLs that are secrets, such as Slack's)")
	fs.BoolVar(&f.chainguardEvents, "chainguard-events", false, "accept Chainguard's CloudEvents at POST /hooks/chainguard, verified against --issuer, to see Console edits at once and who made them")
}

// check validates the feedback flags; it fills in the commit status repo
// from the Git URL when not given. Errors never show a notify URL.
func (f *feedbackOptions) check(gitURL string) error {
	if f.externalURL != "" {
		u, err := url.Parse(f.externalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--external-url %q: want an absolute http:// or https:// URL", f.externalURL)
		}
	}
	f.notify = nil
	urls := f.notifyURLs
	if f.notifyURLFile != "" {
		b, err := os.ReadFile(f.notifyURLFile)
		if err != nil {
			return fmt.Errorf("--notify-url-file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				urls = append(urls, line)
			}
		}
	}
	for i, raw := range urls {
		for _, one := range strings.Split(raw, ",") {
			if one = strings.TrimSpace(one); one == "" {
				continue
			}
			t, err := notify.ParseTarget(one)
			if err != nil {
				return fmt.Errorf("--notify-url (number %d): %w", i+1, err)
			}
			f.notify = append(f.notify, t)
		}
	}
	if f.commitStatus == "" {
		for _, c := range []struct{ name, v string }{
			{"--commit-status-url", f.commitStatusURL}, {"--commit-status-token-file", f.commitStatusTokenFile}, {"--commit-status-repo", f.commitStatusRepo},
		} {
			if c.v != "" {
				return fmt.Errorf("%s needs --commit-status github or gitlab", c.name)
			}
		}
		return nil
	}
	p, err := commitstatus.ParseProvider(f.commitStatus)
	if err != nil {
		return fmt.Errorf("--commit-status: %w", err)
	}
	if f.commitStatusTokenFile == "" {
		return errors.New("--commit-status needs --commit-status-token-file")
	}
	if f.commitStatusURL != "" {
		u, err := url.Parse(f.commitStatusURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("--commit-status-url: want an absolute http:// or https:// URL")
		}
	}
	if f.commitStatusRepo == "" {
		repo, err := commitstatus.RepoFromGitURL(p, gitURL)
		if err != nil {
			return fmt.Errorf("--commit-status-repo: %w", err)
		}
		f.commitStatusRepo = repo
	}
	return nil
}

// feedback wires commit statuses, notifications and Chainguard's events
// into the daemon: it is a reconciler sink (events), a cycle observer
// (reports), the build watcher's OnResult, and the /hooks/chainguard route.
type feedback struct {
	org      string
	log      *zap.Logger
	tracker  *commitstatus.Tracker
	reporter *commitstatus.Reporter
	notifier *notify.Notifier
	actors   *actorBook
	url      string
	history  *repopage.History
	// verified reports whether the head passed signature verification.
	verified func() bool
	// now is the clock for history entries whose event carries no time.
	now func() time.Time
}

// newFeedback builds what the flags ask for; busy tells whether the build
// watcher still follows a repo's builds.
func newFeedback(d *daemon, o *options, busy func(repoID string) bool) (*feedback, error) {
	f := &feedback{org: o.org, log: d.log.Named("feedback"), actors: newActorBook(time.Now, d.self), url: strings.TrimRight(o.feedback.externalURL, "/"), history: repopage.NewHistory(), now: time.Now}
	if cfg, ok := o.feedback.commitStatusConfig(o.org); ok {
		cfg.Logger = d.log.Named("commit-status")
		cfg.Observe = func(result string) { d.metrics.CommitStatusReports.WithLabelValues(result).Inc() }
		for _, r := range []string{commitstatus.ResultSent, commitstatus.ResultRetry, commitstatus.ResultFailed, commitstatus.ResultDuplicate, commitstatus.ResultDropped} {
			d.metrics.CommitStatusReports.WithLabelValues(r)
		}
		rep, err := commitstatus.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("--commit-status: %w", err)
		}
		f.reporter = rep
		f.tracker = commitstatus.NewTracker(rep, busy)
	}
	f.verified = func() bool {
		v := true
		d.store.Update(func(h *store.Status) { v = h.Verified })
		return v
	}
	if len(o.feedback.notify) > 0 {
		f.notifier = notify.New(notify.Config{
			Targets: o.feedback.notify,
			Logger:  d.log.Named("notify"),
			Observe: func(target, result string) { d.metrics.Notifications.WithLabelValues(target, result).Inc() },
		})
	}
	return f, nil
}

// commitStatusConfig is the reporter's configuration for an organization,
// or false when commit statuses are off.
func (f *feedbackOptions) commitStatusConfig(org string) (commitstatus.Config, bool) {
	if f.commitStatus == "" {
		return commitstatus.Config{}, false
	}
	return commitstatus.Config{
		Provider:  commitstatus.Provider(f.commitStatus),
		URL:       f.commitStatusURL,
		Repo:      f.commitStatusRepo,
		TokenFile: f.commitStatusTokenFile,
		Context:   "ca-reconciler/" + org,
		TargetURL: f.externalURL,
	}, true
}

// reconcilerOptions plug the feedback into the reconciler.
func (f *feedback) reconcilerOptions() []reconciler.Option {
	return []reconciler.Option{reconciler.WithCycleObserver(f.cycle), reconciler.WithSink(f)}
}

// run delivers commit statuses and notifications until ctx ends.
func (f *feedback) run(ctx context.Context) {
	var wg sync.WaitGroup
	if f.reporter != nil {
		wg.Go(func() { _ = f.reporter.Run(ctx) })
	}
	if f.notifier != nil {
		wg.Go(func() { _ = f.notifier.Run(ctx) })
	}
	wg.Wait()
}

// drain sends what is queued before the process exits (run --once),
// within drainTimeout.
func (f *feedback) drain(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	if f.reporter != nil {
		f.reporter.Drain(ctx)
	}
	if f.notifier != nil {
		f.notifier.Drain(ctx)
	}
}

// drainTimeout bounds how long run --once waits to send its reports.
const drainTimeout = 30 * time.Second

// cycle turns a cycle's report into notifications of the guards'
// refusals and the tracker's input.
func (f *feedback) cycle(rep reconciler.Report) {
	if f.notifier != nil && f.verified != nil {
		if !f.verified() {
			f.notifier.Notify(notify.Event{Kind: notify.KindSignatureRefused, Org: f.org, Revision: rep.Revision,
				Reason: "the head commit is not signed by a trusted key (--verify-commits-keyring); the daemon keeps reconciling the last verified revision", URL: f.url})
		} else {
			f.notifier.Resolved(notify.KindSignatureRefused, "", "")
		}
	}
	if rep.Err != nil {
		return
	}
	f.recordOverlays(rep)
	if f.notifier != nil {
		refused := guardRefusals(f.org, f.url, rep.Plan)
		for _, why := range vocab.HoldReasons() {
			if !why.Guard() {
				continue
			}
			if e, ok := refused[why]; ok {
				f.notifier.Notify(e)
			} else {
				f.notifier.Resolved(notify.KindRefused, "", string(why))
			}
		}
	}
	if f.tracker == nil {
		return
	}
	f.tracker.Cycle(rep.Revision, cycleRepos(rep))
}

// cycleRepos is what a cycle did to each repo that was not in sync, for
// the commit status: the repos whose file or write failed, whose create or
// prune was refused (by the service, or by a guard) or held back by an
// invalid settings file, and those written, created or pruned (a created
// repo's id is the create's); an invalid settings file is an entry of its
// own, named by its path.
func cycleRepos(rep reconciler.Report) []commitstatus.CycleRepo {
	var repos []commitstatus.CycleRepo
	if rep.Plan.SettingsErr != nil {
		repos = append(repos, commitstatus.CycleRepo{Name: rep.Plan.SettingsFile, Problem: commitstatus.ProblemInvalid})
	}
	for _, c := range rep.Plan.Changes {
		r := commitstatus.CycleRepo{Name: c.Repo, ID: c.RepoID}
		w, wrote := rep.Writes[c.Repo]
		if r.ID == "" && wrote {
			r.ID = w.RepoID
		}
		switch {
		case c.SourceRefused:
			r.Problem = commitstatus.ProblemCreateRefused
		case c.Action == vocab.ActionInvalid:
			r.Problem = commitstatus.ProblemInvalid
		case c.Action == vocab.ActionMissing:
			r.Problem = commitstatus.ProblemMissing
		case c.Held == vocab.HoldSettingsInvalid:
			r.Drifted, r.Problem = true, commitstatus.ProblemHeld
		case c.Held.Guard():
			r.Drifted, r.Problem = true, commitstatus.ProblemPruneRefused
		case c.Drifted() && c.Stalled:
			r.Drifted, r.Problem = true, commitstatus.ProblemStalled
		case c.Drifted():
			r.Drifted = true
			// A write that read back different still started builds; it
			// counts toward stalled, which a later cycle reports.
			if wrote {
				switch {
				case w.Err == nil:
					r.Written = true
				case !w.Transient && c.Action == vocab.ActionCreate:
					r.Problem = commitstatus.ProblemCreateRefused
				case !w.Transient && c.Action == vocab.ActionPrune:
					r.Problem = commitstatus.ProblemPruneRefused
				default:
					r.Problem = commitstatus.ProblemWriteFailed
				}
			}
		default:
			continue
		}
		repos = append(repos, r)
	}
	return repos
}

// guardRefusals are the refusals of the guards that hold writes back in a
// plan, one message for the organization per guard, naming the repos it
// holds back: no prune while the folder holds no valid file (no_files) or
// more repos would be pruned than --prune-limit (prune_limit), nothing
// written, created or pruned while the settings file is invalid
// (settings_invalid, with the file's problems). It is pure; what it
// returns is the same every cycle while the refusal is, so the notifier
// sends it once.
func guardRefusals(org, link string, p reconciler.Plan) map[vocab.HoldReason]notify.Event {
	out := map[vocab.HoldReason]notify.Event{}
	for _, c := range p.Changes {
		if !c.Held.Guard() {
			continue
		}
		e, ok := out[c.Held]
		if !ok {
			e = notify.Event{Kind: notify.KindRefused, Org: org, Held: string(c.Held), URL: link}
			switch {
			case c.Held == vocab.HoldSettingsInvalid:
				e.Reason = errText(c.Err)
				e.Problems = reconciler.ProblemLines(p.SettingsErr)
			case p.Prune.Held == c.Held:
				e.Action, e.Reason = string(vocab.ActionPrune), p.Prune.Reason
			default:
				e.Action, e.Reason = string(vocab.ActionPrune), c.Held.Describe()
			}
			if e.Reason == "" {
				e.Reason = c.Held.Describe()
			}
		}
		e.Repos = append(e.Repos, c.Repo)
		out[c.Held] = e
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}

// recordOverlays gives the repo pages each repo's two overlays and the
// source the settings file creates it from.
func (f *feedback) recordOverlays(rep reconciler.Report) {
	for i := range rep.Plan.Changes {
		c := &rep.Plan.Changes[i]
		seen := repopage.Seen{File: c.File, Revision: rep.Revision, DesiredHash: c.DesiredHash, Source: c.Source}
		switch {
		case c.Action == vocab.ActionInvalid && !c.SourceRefused:
		case c.Action == vocab.ActionOrphan:
		default:
			// a create whose source the service refused is invalid, its
			// file valid
			seen.Desired = &c.Desired
		}
		if c.RepoID != "" {
			seen.Live = &c.Live
		}
		f.history.Overlays(c.Repo, seen)
	}
}

// build is the build watcher's OnResult.
func (f *feedback) build(r buildwatch.Result) {
	f.history.AddBuild(r.Repo, repopage.Build{ID: r.BuildID, Result: string(r.Result), Started: r.Started, Finished: r.Finished, LogTail: r.LogTail})
	if f.tracker != nil {
		res := commitstatus.BuildSuccess
		switch r.Result {
		case vocab.BuildFailure:
			res = commitstatus.BuildFailure
		case vocab.BuildTimeout:
			res = commitstatus.BuildTimeout
		}
		f.tracker.Build(r.Repo, res)
	}
	if f.notifier != nil && r.Result != vocab.BuildSuccess {
		reason := "the build failed"
		if r.Result == vocab.BuildTimeout {
			reason = "the build timed out"
		}
		f.notifier.Notify(notify.Event{Kind: notify.KindBuildFailed, Org: f.org, Repo: r.Repo, BuildID: r.BuildID, Reason: reason, LogTail: r.LogTail, URL: f.repoURL(r.Repo)})
	}
}

// Handle is the reconciler sink: it records writes, creates, prunes and
// refusals for the repo pages, and notifies drift corrected (a write that
// put back a change not made in Git), stalled, and a create or prune the
// service refused for good (a guard's refusal is notified per guard by
// cycle). A create or prune that succeeds is not notified: like an update,
// it is what a commit asked for. A repo back in sync, pruned or no longer
// managed is forgotten by the notifier's deduplication.
func (f *feedback) Handle(e reconciler.Event) {
	switch e.Kind {
	case vocab.EventDriftDetected:
		if actor, ok := f.actors.peek(e.RepoID); ok {
			f.log.Info("drift made by", zap.String("repo", e.Repo), zap.String("actor", actor))
		}
	case vocab.EventWritten:
		f.history.AddWrite(e.Repo, repopage.Write{At: e.At, Action: string(e.Action), Attempts: e.Attempts, Converged: e.Converged, Diff: e.Diff})
		actor := f.actors.written(e.RepoID)
		if e.Commit.IsZero() && f.notifier != nil {
			f.notifier.Notify(notify.Event{Kind: notify.KindDriftCorrected, Org: f.org, Repo: e.Repo, Diff: e.Diff, Actor: actor, URL: f.repoURL(e.Repo)})
		}
	case vocab.EventCreated, vocab.EventPruned:
		f.history.AddWrite(e.Repo, repopage.Write{At: e.At, Action: string(e.Action), Source: e.Source, Attempts: e.Attempts, Converged: e.Converged, Diff: e.Diff})
	case vocab.EventWriteFailed:
		f.history.AddWrite(e.Repo, repopage.Write{At: f.at(e.At), Action: string(e.Action), Source: e.Source, Attempts: e.Attempts, Error: e.Reason, Diff: e.Diff})
		if f.notifier != nil && !e.Transient && (e.Action == vocab.ActionCreate || e.Action == vocab.ActionPrune) {
			f.notifier.Notify(notify.Event{Kind: notify.KindRefused, Org: f.org, Repo: e.Repo, Action: string(e.Action), Reason: e.Reason, URL: f.repoURL(e.Repo)})
		}
	case vocab.EventRefused:
		f.history.AddWrite(e.Repo, repopage.Write{At: f.at(e.At), Action: string(e.Action), Held: e.Held, Error: e.Reason, Diff: e.Diff})
	case vocab.EventRepoGone:
		f.history.Forget(e.Repo)
		if f.notifier != nil {
			f.notifier.Forget(e.Repo)
		}
	case vocab.EventStalled:
		if f.notifier != nil {
			f.notifier.Notify(notify.Event{Kind: notify.KindStalled, Org: f.org, Repo: e.Repo, Diff: e.Diff,
				Reason: fmt.Sprintf("still drifted after %d writes of the same file", e.Writes), URL: f.repoURL(e.Repo)})
		}
	case vocab.EventStatusChanged:
		if (e.To == vocab.StatusSynced || e.To == vocab.StatusPruned) && f.notifier != nil {
			f.notifier.Forget(e.Repo)
		}
	}
}

// at is an event's time, or now for events that carry none.
func (f *feedback) at(t time.Time) time.Time {
	if t.IsZero() {
		return f.now()
	}
	return t
}

func (f *feedback) repoURL(repo string) string {
	if f.url == "" {
		return ""
	}
	return f.url + "/repos/" + url.PathEscape(repo)
}

// chainguardHook is POST /hooks/chainguard for the organization's group.
func (f *feedback) chainguardHook(d *daemon, issuer string) (http.Handler, error) {
	return cgevents.New(cgevents.Config{
		Issuer: issuer,
		Group:  func() string { return d.store.Status().OrgID },
		Managed: func(id string) (string, bool) {
			name, ok := d.store.RepoName(id)
			if !ok {
				return "", false
			}
			st, _ := d.store.Repo(name)
			return name, st.Status != vocab.StatusOrphan
		},
		Actors:  f.actors,
		Trigger: func(string) { d.reconciler.Trigger(vocab.TriggerChainguardEvent) },
		Observe: func(r string) { d.metrics.ChainguardEvents.WithLabelValues(r).Inc() },
		Logger:  d.log.Named("chainguard-events"),
	})
}

// actorBook remembers who changed a repo (from Chainguard's events) until
// the write that puts the change back reads it. The daemon's own write
// makes an event too, named by the daemon's identity, and it can arrive
// before the cycle's events reach the book, or long after. When the book
// can name that identity (--identity, or the claims of a token that is a
// JWT) it never notes it. When it cannot (an opaque token), what is noted
// within ownEcho after the daemon's write of a repo is taken for that
// write's echo and is not kept. Either way an actor noted less than ownEcho
// ago is not replaced (the first change of a burst names it). A Console
// edit inside a window is still put back, only named by the first actor or
// by none.
type actorBook struct {
	now func() time.Time
	// self names the daemon's identity; nil, or no names, when it cannot
	// be told.
	self  func() []string
	mu    sync.Mutex
	noted map[string]notedActor // by repo id
	wrote map[string]time.Time  // by repo id, the daemon's last write
}

type notedActor struct {
	actor string
	at    time.Time
}

// ownEcho is how long an actor noted for a repo stands against later
// events, and how long after the daemon's write of a repo an event for it
// is taken for that write's echo.
const ownEcho = 30 * time.Second

// maxActorRepos bounds each of the book's maps.
const maxActorRepos = 10000

func newActorBook(now func() time.Time, self func() []string) *actorBook {
	return &actorBook{now: now, self: self, noted: map[string]notedActor{}, wrote: map[string]time.Time{}}
}

// NoteActor implements cgevents.ActorNoter.
func (a *actorBook) NoteActor(repoID, actor string) {
	var self []string
	if a.self != nil {
		self = a.self()
	}
	if slices.Contains(self, actor) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if t, ok := a.wrote[repoID]; ok && len(self) == 0 && now.Sub(t) < ownEcho {
		return // with no identity to tell it by, taken for the write's echo
	}
	if n, ok := a.noted[repoID]; ok && now.Sub(n.at) < ownEcho {
		return
	}
	if len(a.noted) > maxActorRepos {
		clear(a.noted)
	}
	a.noted[repoID] = notedActor{actor: actor, at: now}
}

// peek returns who changed the repo, if an event named one.
func (a *actorBook) peek(repoID string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.noted[repoID]
	return n.actor, ok
}

// written returns who made the change the daemon's write of a repo put
// back ("" when no event named one), forgets it, and starts the window in
// which events for the repo are the write's echo.
func (a *actorBook) written(repoID string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.noted[repoID]
	delete(a.noted, repoID)
	if len(a.wrote) > maxActorRepos {
		clear(a.wrote)
	}
	a.wrote[repoID] = a.now()
	return n.actor
}
