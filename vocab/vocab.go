// Package vocab declares, once, the typed words ca-reconciler's packages
// share: a repo's status, a plan's action, how a cycle was triggered and how
// it ended, the results of builds, writes, Git fetches and webhook requests,
// the webhook providers, the state of a file under --path and why a file is
// ignored. Each type has its full list (metrics pre-initialise bounded
// labels from it, pages order by it, tests range over it) and carries the
// business rules that belong to the word, such as which statuses count as
// drifted.
//
// The values are the strings that appear in metrics labels, /status, logs
// and the README, so a value, once released, is never renamed. Adding one is
// a constant and an entry in its type's list (TestEveryConstantIsListed
// fails when the entry is forgotten).
//
// The package imports nothing of ca-reconciler's, so every package may use
// it.
package vocab

// Mode says whether drift is corrected or only reported (--mode).
type Mode string

// Modes.
const (
	// ModeApply writes the repos that drifted.
	ModeApply Mode = "apply"
	// ModeDetect only reports drift; nothing is written.
	ModeDetect Mode = "detect"
)

// Modes returns every mode.
func Modes() []Mode { return []Mode{ModeApply, ModeDetect} }

// Status is what the daemon knows about one repo after a cycle: the status
// label of ca_reconciler_repo_status, "status" in /status and the page.
type Status string

// Repo statuses.
const (
	// StatusSynced: the live overlay equals the file.
	StatusSynced Status = "synced"
	// StatusDrifted: the live overlay differs from the file (not yet
	// written, or detect mode).
	StatusDrifted Status = "drifted"
	// StatusFailed: the write of a drifted repo failed this cycle.
	StatusFailed Status = "failed"
	// StatusStalled: writes of the same file did not converge; the repo
	// is not written again until its file changes.
	StatusStalled Status = "stalled"
	// StatusInvalid: the file cannot be applied (it breaks a rule, two
	// files name the repo, or the repo is not a Custom Assembly image).
	StatusInvalid Status = "invalid"
	// StatusMissing: the file names a repo that does not exist.
	StatusMissing Status = "missing"
	// StatusOrphan: the repo has a live overlay but no file names it; it
	// is reported, never written.
	StatusOrphan Status = "orphan"
	// StatusSuspended: the settings file suspends the repo; it is never
	// written, created or pruned, and its drift is still reported.
	StatusSuspended Status = "suspended"
	// StatusPruned: the repo's file is gone and pruning reset its overlay
	// to empty; it is forgotten at the next cycle.
	StatusPruned Status = "pruned"
)

// Statuses returns every status, in the order pages show them: healthy
// first, then the ones that need a write, then the ones that need a person.
func Statuses() []Status {
	return []Status{StatusSynced, StatusDrifted, StatusFailed, StatusStalled, StatusInvalid, StatusMissing, StatusOrphan, StatusSuspended, StatusPruned}
}

// Drifted reports whether a repo in this status has a live overlay that
// differs from its file: drifted, and also failed and stalled, whose writes
// did not make it equal.
func (s Status) Drifted() bool {
	return s == StatusDrifted || s == StatusFailed || s == StatusStalled
}

// Managed reports whether a file names the repo (every status but orphan
// and pruned).
func (s Status) Managed() bool { return s != StatusOrphan && s != StatusPruned }

// Known reports whether s is one of Statuses.
func (s Status) Known() bool { return contains(Statuses(), s) }

// Action is what a cycle does, or would do, to one repo.
type Action string

// Plan actions, one per repo per cycle.
const (
	// ActionUpdate writes the file's overlay over a live overlay that
	// differs.
	ActionUpdate Action = "update"
	// ActionReset clears a live overlay because the repo's file is empty.
	ActionReset Action = "reset"
	// ActionNoop leaves a repo that is in sync.
	ActionNoop Action = "noop"
	// ActionInvalid leaves a repo whose file cannot be applied.
	ActionInvalid Action = "invalid"
	// ActionMissing reports a file naming a repo that does not exist.
	ActionMissing Action = "missing"
	// ActionOrphan reports a repo with a live overlay that no file names.
	ActionOrphan Action = "orphan"
	// ActionCreate creates a repo that a file names and that does not
	// exist, from the source the settings file gives it.
	ActionCreate Action = "create"
	// ActionPrune resets to the empty overlay a repo whose file is gone
	// (with --prune, for a repo a file once named).
	ActionPrune Action = "prune"
	// ActionSuspended leaves a repo the settings file suspends; the change
	// says what it would otherwise do.
	ActionSuspended Action = "suspended"
)

// Actions returns every action, in the order a plan's summary counts them.
func Actions() []Action {
	return []Action{ActionUpdate, ActionReset, ActionNoop, ActionInvalid, ActionMissing, ActionOrphan, ActionCreate, ActionPrune, ActionSuspended}
}

// Writes reports whether the action writes the repo (creating it, or
// writing its overlay).
func (a Action) Writes() bool {
	return a == ActionUpdate || a == ActionReset || a == ActionCreate || a == ActionPrune
}

// Error reports whether the action means the file cannot be applied.
func (a Action) Error() bool { return a == ActionInvalid || a == ActionMissing }

// EventKind names a thing that happened to a repo, as the reconciler's state
// transition reports it to logs, metrics and notifications.
type EventKind string

// Event kinds.
const (
	// EventDriftDetected: a repo that was in sync (or new) differs from
	// its file.
	EventDriftDetected EventKind = "drift_detected"
	// EventStatusChanged: a repo's status changed (or it was seen for the
	// first time, or its file's error changed).
	EventStatusChanged EventKind = "status_changed"
	// EventWritten: a repo's overlay was written.
	EventWritten EventKind = "written"
	// EventWriteFailed: writing a repo's overlay failed.
	EventWriteFailed EventKind = "write_failed"
	// EventStalled: a repo's writes did not converge; it is no longer
	// written until its file changes.
	EventStalled EventKind = "stalled"
	// EventRepoGone: no file names the repo any more and it holds no
	// overlay; the daemon forgets it.
	EventRepoGone EventKind = "repo_gone"
	// EventCreated: a repo was created from its source with its file's
	// overlay (in place of written, for a create).
	EventCreated EventKind = "created"
	// EventPruned: a repo whose file is gone was reset to the empty
	// overlay (in place of written, for a prune).
	EventPruned EventKind = "pruned"
	// EventRefused: a write the plan wants was refused by a guard (see
	// HoldReason); sent when the refusal starts or its reason changes.
	EventRefused EventKind = "refused"
)

// EventKinds returns every event kind.
func EventKinds() []EventKind {
	return []EventKind{EventDriftDetected, EventStatusChanged, EventWritten, EventWriteFailed, EventStalled, EventRepoGone,
		EventCreated, EventPruned, EventRefused}
}

// HoldReason says why a repo whose live overlay differs from Git is not
// written this cycle: the reason label of ca_reconciler_held_repos, "held"
// in /status.
type HoldReason string

// Reasons a write is held back.
const (
	// HoldSuspended: the settings file suspends the repo.
	HoldSuspended HoldReason = "suspended"
	// HoldSettingsInvalid: the settings file is invalid, and could hide a
	// suspend: nothing is written, created or pruned until it is fixed.
	HoldSettingsInvalid HoldReason = "settings_invalid"
	// HoldPruneLimit: the cycle would prune more repos than --prune-limit
	// allows; none is pruned.
	HoldPruneLimit HoldReason = "prune_limit"
	// HoldNoFiles: the folder holds no valid file; nothing is pruned.
	HoldNoFiles HoldReason = "no_files"
)

// HoldReasons returns every reason.
func HoldReasons() []HoldReason {
	return []HoldReason{HoldSuspended, HoldSettingsInvalid, HoldPruneLimit, HoldNoFiles}
}

// Guard reports whether the reason is a guard refusing a write (every
// reason but suspended, which is the settings file's own choice): a refusal
// needs a person, and fails run --once and plan.
func (r HoldReason) Guard() bool { return r != "" && r != HoldSuspended }

// Describe is the reason as a phrase for logs and pages.
func (r HoldReason) Describe() string {
	switch r {
	case HoldSuspended:
		return "suspended by the settings file"
	case HoldSettingsInvalid:
		return "the settings file is invalid: nothing is written, created or pruned until it is fixed"
	case HoldPruneLimit:
		return "more repos would be pruned than --prune-limit allows: none is pruned"
	case HoldNoFiles:
		return "the folder holds no valid file: nothing is pruned"
	}
	return string(r)
}

// Trigger is why a cycle ran: the trigger label of
// ca_reconciler_reconciles_total.
type Trigger string

// Cycle triggers.
const (
	// TriggerStart is the cycle at start (and the one of --once and plan).
	TriggerStart Trigger = "start"
	// TriggerInterval is a cycle after --interval.
	TriggerInterval Trigger = "interval"
	// TriggerWebhook is a cycle asked for by a push webhook.
	TriggerWebhook Trigger = "webhook"
	// TriggerChainguardEvent is a cycle asked for by Chainguard's
	// repo.updated event (a Console edit).
	TriggerChainguardEvent Trigger = "chainguard_event"
)

// Triggers returns every trigger.
func Triggers() []Trigger {
	return []Trigger{TriggerStart, TriggerInterval, TriggerWebhook, TriggerChainguardEvent}
}

// CycleResult is how a cycle ended.
type CycleResult string

// Cycle results.
const (
	// CycleSuccess: every repo was handled as the mode asks.
	CycleSuccess CycleResult = "success"
	// CyclePartial: Git and the API were read, but some repo could not be
	// reconciled (an invalid file, a missing repo, a failed or stalled
	// write).
	CyclePartial CycleResult = "partial"
	// CycleError: Git or the API could not be read; nothing was written.
	CycleError CycleResult = "error"
)

// CycleResults returns every cycle result.
func CycleResults() []CycleResult { return []CycleResult{CycleSuccess, CyclePartial, CycleError} }

// Dependency is what a cycle reads before it can compare: readiness and
// /status name the one that failed.
type Dependency string

// Dependencies.
const (
	// DependencyGit is the Git source (--git-url).
	DependencyGit Dependency = "git"
	// DependencyAPI is the Chainguard API (--api).
	DependencyAPI Dependency = "api"
)

// Dependencies returns every dependency.
func Dependencies() []Dependency { return []Dependency{DependencyGit, DependencyAPI} }

// Describe names the dependency for people.
func (d Dependency) Describe() string {
	switch d {
	case DependencyGit:
		return "the Git source"
	case DependencyAPI:
		return "the Chainguard API"
	}
	return string(d)
}

// Phase is a timed part of a cycle: the phase label of
// ca_reconciler_reconcile_duration_seconds.
type Phase string

// Cycle phases, in the order they run.
const (
	PhaseFetch    Phase = "fetch"
	PhaseParse    Phase = "parse"
	PhaseReadLive Phase = "read_live"
	PhasePlan     Phase = "plan"
	// PhasePackageCheck is the package check of the repos to be written.
	PhasePackageCheck Phase = "package_check"
	PhaseApply        Phase = "apply"
	// PhaseTotal is the whole cycle.
	PhaseTotal Phase = "total"
)

// Phases returns every phase.
func Phases() []Phase {
	return []Phase{PhaseFetch, PhaseParse, PhaseReadLive, PhasePlan, PhasePackageCheck, PhaseApply, PhaseTotal}
}

// BuildResult is how a build ended: the result label of
// ca_reconciler_builds_total.
type BuildResult string

// Build results.
const (
	BuildSuccess BuildResult = "success"
	BuildFailure BuildResult = "failure"
	// BuildTimeout: still pending after the build limit, or failed after
	// running that long.
	BuildTimeout BuildResult = "timeout"
)

// BuildResults returns every build result.
func BuildResults() []BuildResult { return []BuildResult{BuildSuccess, BuildFailure, BuildTimeout} }

// Failed reports whether the build did not produce an image.
func (r BuildResult) Failed() bool { return r != BuildSuccess }

// WriteResult is how one overlay write ended: the result label of
// ca_reconciler_writes_total.
type WriteResult string

// Write results.
const (
	WriteSuccess WriteResult = "success"
	WriteError   WriteResult = "error"
)

// WriteResults returns every write result.
func WriteResults() []WriteResult { return []WriteResult{WriteSuccess, WriteError} }

// FetchResult is how a check of the Git source ended: the result label of
// ca_reconciler_git_fetches_total.
type FetchResult string

// Git fetch results.
const (
	// FetchUnchanged: the remote ref has not moved; nothing was fetched.
	FetchUnchanged FetchResult = "unchanged"
	// FetchUpdated: a new revision was fetched (or the first one).
	FetchUpdated FetchResult = "updated"
	// FetchError: the source could not be read, or its head was refused.
	FetchError FetchResult = "error"
)

// FetchResults returns every fetch result.
func FetchResults() []FetchResult { return []FetchResult{FetchUnchanged, FetchUpdated, FetchError} }

// FileState classifies a file under --path: the state label of
// ca_reconciler_files.
type FileState string

// File states.
const (
	// FileValid: the file manages a repo and parsed without problems.
	FileValid FileState = "valid"
	// FileInvalid: the file manages a repo but cannot be applied.
	FileInvalid FileState = "invalid"
	// FileIgnored: the entry manages nothing (see IgnoreReason).
	FileIgnored FileState = "ignored"
	// FileSettings: the folder's settings file, .ca-reconciler.yaml,
	// valid.
	FileSettings FileState = "settings"
	// FileSettingsInvalid: the folder's settings file, invalid.
	FileSettingsInvalid FileState = "settings_invalid"
)

// FileStates returns every file state.
func FileStates() []FileState {
	return []FileState{FileValid, FileInvalid, FileIgnored, FileSettings, FileSettingsInvalid}
}

// IgnoreReason says why an entry under --path manages no repo: the reason
// label of ca_reconciler_ignored_files, "reason" in /status.
type IgnoreReason string

// Reasons an entry is ignored.
const (
	// IgnoredNested: a file in a folder below --path.
	IgnoredNested IgnoreReason = "nested"
	// IgnoredExtension: a file whose name does not end in .yaml or .yml.
	IgnoredExtension IgnoreReason = "extension"
	// IgnoredHidden: a file whose name starts with a dot.
	IgnoredHidden IgnoreReason = "hidden"
	// IgnoredSymlink: a symbolic link; links are never followed.
	IgnoredSymlink IgnoreReason = "symlink"
	// IgnoredSubmodule: a Git submodule (gitlink); its content is in
	// another repository.
	IgnoredSubmodule IgnoreReason = "submodule"
	// IgnoredIrregular: any other entry that is not a regular file (a
	// device, a socket, a named pipe).
	IgnoredIrregular IgnoreReason = "irregular"
)

// IgnoreReasons returns every reason.
func IgnoreReasons() []IgnoreReason {
	return []IgnoreReason{IgnoredNested, IgnoredExtension, IgnoredHidden, IgnoredSymlink, IgnoredSubmodule, IgnoredIrregular}
}

// Describe is the reason as a phrase for logs and pages.
func (r IgnoreReason) Describe() string {
	switch r {
	case IgnoredNested:
		return "in a folder below the managed folder; only files directly in it manage repos"
	case IgnoredExtension:
		return "not a .yaml or .yml file"
	case IgnoredHidden:
		return "hidden file (name starts with a dot)"
	case IgnoredSymlink:
		return "symbolic link; links are never followed"
	case IgnoredSubmodule:
		return "Git submodule; its files are in another repository"
	case IgnoredIrregular:
		return "not a regular file"
	}
	return string(r)
}

// WebhookProvider is the last path element of POST /hooks/PROVIDER: the
// provider label of ca_reconciler_webhook_requests_total.
type WebhookProvider string

// Webhook providers.
const (
	WebhookGitHub  WebhookProvider = "github"
	WebhookGitLab  WebhookProvider = "gitlab"
	WebhookGeneric WebhookProvider = "generic"
)

// WebhookProviders returns every provider.
func WebhookProviders() []WebhookProvider {
	return []WebhookProvider{WebhookGitHub, WebhookGitLab, WebhookGeneric}
}

// WebhookResult is how a webhook request was answered: the result label of
// ca_reconciler_webhook_requests_total.
type WebhookResult string

// Webhook results.
const (
	// WebhookAccepted: a valid push; a cycle was asked for.
	WebhookAccepted WebhookResult = "accepted"
	// WebhookPing: GitHub's ping; answered, no cycle.
	WebhookPing WebhookResult = "ping"
	// WebhookUnauthorized: a missing or wrong signature or token.
	WebhookUnauthorized WebhookResult = "unauthorized"
	// WebhookTooLarge: a body over the limit.
	WebhookTooLarge WebhookResult = "too_large"
	// WebhookBadMethod: a method other than POST.
	WebhookBadMethod WebhookResult = "bad_method"
	// WebhookBadRequest: an unreadable body.
	WebhookBadRequest WebhookResult = "bad_request"
	// WebhookTimeout: the body did not arrive within the read timeout.
	WebhookTimeout WebhookResult = "timeout"
	// WebhookBusy: refused unread, because the limit of hook requests
	// served at once was reached.
	WebhookBusy WebhookResult = "busy"
	// WebhookReplayed: a valid delivery already seen within the replay
	// window; answered, no cycle.
	WebhookReplayed WebhookResult = "replayed"
)

// WebhookResults returns every webhook result.
func WebhookResults() []WebhookResult {
	return []WebhookResult{WebhookAccepted, WebhookPing, WebhookUnauthorized, WebhookTooLarge, WebhookBadMethod, WebhookBadRequest,
		WebhookTimeout, WebhookBusy, WebhookReplayed}
}

// PackageCheckStatus says whether the package check ran: the status label of
// ca_reconciler_package_checks_total and ca_reconciler_package_check_status,
// "status" of package_check in /status (packagecheck.Status).
type PackageCheckStatus string

// Package check statuses.
const (
	// PackageCheckChecked: the repos were checked against the
	// organization's package index.
	PackageCheckChecked PackageCheckStatus = "checked"
	// PackageCheckSkipped: the identity may not list the organization's
	// packages (it lacks apk.list); nothing is refused.
	PackageCheckSkipped PackageCheckStatus = "skipped"
	// PackageCheckUnavailable: the index could not be read and there is
	// none from before; nothing is refused.
	PackageCheckUnavailable PackageCheckStatus = "unavailable"
)

// PackageCheckStatuses returns every package check status.
func PackageCheckStatuses() []PackageCheckStatus {
	return []PackageCheckStatus{PackageCheckChecked, PackageCheckSkipped, PackageCheckUnavailable}
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
