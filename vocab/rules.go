package vocab

import "slices"

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
func (s Status) Known() bool { return slices.Contains(Statuses(), s) }

// Writes reports whether the action writes the repo (creating it, or
// writing its overlay).
func (a Action) Writes() bool {
	return a == ActionUpdate || a == ActionReset || a == ActionCreate || a == ActionPrune
}

// Error reports whether the action means the file cannot be applied.
func (a Action) Error() bool { return a == ActionInvalid || a == ActionMissing }

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

// Failed reports whether the build did not produce an image.
func (r BuildResult) Failed() bool { return r != BuildSuccess }

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
