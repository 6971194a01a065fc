package commitstatus

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Provider is where commit statuses go.
type Provider string

// Providers.
const (
	GitHub Provider = "github"
	GitLab Provider = "gitlab"
)

// Default API base URLs.
const (
	DefaultGitHubURL = "https://api.github.com"
	DefaultGitLabURL = "https://gitlab.com/api/v4"
)

// GitHubAPIVersion is the REST API version asked for in X-GitHub-Api-Version.
const GitHubAPIVersion = "2022-11-28"

// ParseProvider reads a --commit-status value.
func ParseProvider(s string) (Provider, error) {
	switch Provider(s) {
	case GitHub, GitLab:
		return Provider(s), nil
	}
	return "", fmt.Errorf("unknown commit status provider %q (want github or gitlab)", s)
}

// DefaultURL is the provider's public API base URL.
func (p Provider) DefaultURL() string {
	if p == GitLab {
		return DefaultGitLabURL
	}
	return DefaultGitHubURL
}

// state is the provider's word for s: GitHub takes pending, success,
// failure (and error); GitLab takes pending, running, success, failed,
// canceled. Builds running are GitLab's "running".
func (p Provider) state(s State) string {
	if p == GitLab {
		switch s {
		case StatePending:
			return "running"
		case StateFailure:
			return "failed"
		}
	}
	return string(s)
}

// request builds the POST for one status. repo is owner/repo on GitHub, a
// project id or path on GitLab.
func (p Provider) request(base, repo, sha, token, context, targetURL string, s Status) (*http.Request, error) {
	base = strings.TrimRight(base, "/")
	var (
		endpoint string
		body     map[string]string
	)
	desc := truncate(s.Description, MaxDescription)
	switch p {
	case GitHub:
		owner, name, ok := strings.Cut(repo, "/")
		if !ok {
			return nil, fmt.Errorf("GitHub repository %q: want owner/repo", repo)
		}
		endpoint = base + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/statuses/" + url.PathEscape(sha)
		body = map[string]string{"state": p.state(s.State), "description": desc, "context": context}
	case GitLab:
		endpoint = base + "/projects/" + url.PathEscape(repo) + "/statuses/" + url.PathEscape(sha)
		body = map[string]string{"state": p.state(s.State), "description": desc, "name": context}
	default:
		return nil, fmt.Errorf("unknown commit status provider %q", p)
	}
	if targetURL != "" {
		body["target_url"] = targetURL
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(string(data)))
	if err != nil {
		return nil, fmt.Errorf("building the commit status request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ca-reconciler")
	switch p {
	case GitHub:
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", GitHubAPIVersion)
	case GitLab:
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	return req, nil
}

// RepoFromGitURL derives --commit-status-repo from --git-url: owner/repo
// for GitHub, the project path for GitLab (groups and subgroups kept).
// https://, http://, ssh:// and scp-like user@host:path URLs are understood;
// credentials and a trailing ".git" or "/" are dropped.
func RepoFromGitURL(p Provider, gitURL string) (string, error) {
	var path string
	switch {
	case strings.Contains(gitURL, "://"):
		u, err := url.Parse(gitURL)
		if err != nil {
			return "", fmt.Errorf("deriving the commit status repo from the Git URL: %w", errRedacted(err))
		}
		switch u.Scheme {
		case "https", "http", "ssh":
		default:
			return "", fmt.Errorf("deriving the commit status repo from the Git URL: scheme %q is not a hosted repository; set --commit-status-repo", u.Scheme)
		}
		path = u.Path
	default:
		// scp-like: [user@]host:path
		host, rest, ok := strings.Cut(gitURL, ":")
		if !ok || host == "" || strings.Contains(host, "/") {
			return "", fmt.Errorf("deriving the commit status repo from the Git URL: not a hosted repository URL; set --commit-status-repo")
		}
		path = rest
	}
	path = strings.Trim(path, "/")
	path = strings.TrimSuffix(path, ".git")
	parts := strings.Split(path, "/")
	for _, s := range parts {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("deriving the commit status repo from the Git URL: path %q is not a repository; set --commit-status-repo", path)
		}
	}
	switch {
	case p == GitHub && len(parts) != 2:
		return "", fmt.Errorf("deriving the commit status repo from the Git URL: path %q is not owner/repo; set --commit-status-repo", path)
	case p == GitLab && len(parts) < 2:
		return "", fmt.Errorf("deriving the commit status repo from the Git URL: path %q is not group/project; set --commit-status-repo", path)
	}
	return path, nil
}

// errRedacted drops the URL from a url.Parse error: the URL may hold a
// password.
func errRedacted(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
