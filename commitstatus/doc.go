// Package commitstatus reports what the daemon did with a Git revision on
// that revision's commit, as a commit status on GitHub or GitLab, so that a
// platform team sees in the pull request or commit list whether a merge was
// applied and its images built.
//
// Decide is the pure rule: from what a revision did to each repo (a problem
// with its file or write, a create or prune refused, a write held back by
// an invalid settings file, whether it was written or created or pruned,
// the results of the builds its writes started) it gives pending, success
// or failure with a short description. Reporter sends those states in the background: Report never
// blocks and never fails; Run posts them one by one, retrying transient
// failures (network errors, 408, 429, 5xx, GitHub's rate-limit 403) with
// jittered exponential backoff; a revision that already has a state is not
// sent it again. The token is read from a file before every request and
// appears in no log, error or metric.
//
// The requests follow the providers' documentation:
//
//   - GitHub, "Create a commit status"
//     (https://docs.github.com/en/rest/commits/statuses#create-a-commit-status):
//     POST {base}/repos/{owner}/{repo}/statuses/{sha} with a JSON body of
//     state (error, failure, pending or success), target_url, description
//     and context; headers Authorization: Bearer TOKEN, Accept:
//     application/vnd.github+json and X-GitHub-Api-Version: 2022-11-28.
//     Base https://api.github.com, or https://HOST/api/v3 for GitHub
//     Enterprise Server. GitHub keeps at most 1000 statuses per sha and
//     context, and refuses descriptions over 140 characters.
//   - GitLab, "Set the pipeline status of a commit"
//     (https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit):
//     POST {base}/projects/:id/statuses/:sha, where :id is the project id
//     or its URL-encoded path (group%2Fproject), with state (pending,
//     running, success, failed or canceled), name (alias context),
//     target_url and description; the token in the PRIVATE-TOKEN header
//     (https://docs.gitlab.com/api/rest/authentication/). Base
//     https://gitlab.com/api/v4, or https://HOST/api/v4 when self-hosted.
//     GitLab refuses some repeated transitions (pending to pending), one
//     more reason to send each state once.
//
// ca-reconciler's pending is GitLab's running (the builds run), failure is
// failed.
package commitstatus
