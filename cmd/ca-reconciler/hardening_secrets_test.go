package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// credentialForms are the ways a password shows up in text: as is,
// URL-encoded, in HTTP Basic credentials (base64 of user:password, padded
// or not, standard or URL alphabet), base64 of the password alone, hex, and
// the whole Authorization header value.
func credentialForms(user, password string) map[string]string {
	basic := user + ":" + password
	return map[string]string{
		"literal":              password,
		"query-escaped":        url.QueryEscape(password),
		"path-escaped":         url.PathEscape(password),
		"base64 user:password": base64.StdEncoding.EncodeToString([]byte(basic)),
		"base64url user:pw":    base64.URLEncoding.EncodeToString([]byte(basic)),
		"base64 unpadded":      base64.RawStdEncoding.EncodeToString([]byte(basic)),
		"base64 password":      base64.StdEncoding.EncodeToString([]byte(password)),
		"hex password":         hex.EncodeToString([]byte(password)),
		"Authorization value":  "Basic " + base64.StdEncoding.EncodeToString([]byte(basic)),
	}
}

// echoGitServer is a Git remote (or a proxy in front of one) that answers
// every request with status and a body echoing the request: its dump
// (headers and all), the credentials decoded, URL-encoded and re-encoded, as
// a misconfigured proxy or a verbose error page would. For a 3xx it
// redirects to a URL holding the credentials instead.
func echoGitServer(t *testing.T, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dump, _ := httputil.DumpRequest(r, true)
		user, pw, _ := r.BasicAuth()
		var b strings.Builder
		fmt.Fprintf(&b, "request was:\n%s\n", dump)
		fmt.Fprintf(&b, "credentials: user=%s password=%s\n", user, pw)
		for name, form := range credentialForms(user, pw) {
			fmt.Fprintf(&b, "%s: %s\n", name, form)
		}
		fmt.Fprintf(&b, `{"headers": {"Authorization": [%q]}}`+"\n", r.Header.Get("Authorization"))
		if status >= 300 && status < 400 {
			if !strings.HasPrefix(r.URL.Path, "/moved") {
				http.Redirect(w, r, "http://"+url.UserPassword(user, pw).String()+"@"+r.Host+"/moved"+r.URL.Path+"?access_token="+url.QueryEscape(pw), status)
				return
			}
			status = http.StatusUnauthorized
		}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		}
		w.Header().Set("X-Echo-Authorization", r.Header.Get("Authorization"))
		w.WriteHeader(status)
		_, _ = w.Write([]byte(b.String()))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Issue 10, failure 3: a Git server that echoes the request in its error
// body, with the credential in every form, leaves none of those forms in
// any log line, error, metric, /status, /readyz or the page, whatever the
// status it answers. A password in --git-url is refused with a message
// naming --git-password-file.
func TestHardeningCredentialsNeverLeak(t *testing.T) {
	const user = "robot"
	const password = "s3cr3t-Git+Pa$$/word=42"
	f := newFixture(t)
	f.repo("a", overlay.Overlay{})
	secrets := t.TempDir()
	passwordFile := writeFile(t, secrets, "git-password", password+"\n")
	webhookFile := writeFile(t, secrets, "webhook", webhookSecret)
	env := childEnv()
	forms := credentialForms(user, password)
	for name, form := range credentialForms("", webhookSecret) {
		forms["webhook secret "+name] = form
	}
	forms["API token"] = apiToken

	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusProxyAuthRequired,
		http.StatusInternalServerError, http.StatusBadGateway, http.StatusOK, http.StatusFound} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := echoGitServer(t, status)
			gitURL := srv.URL + "/config.git"
			args := []string{"--git-url", gitURL, "--git-username", user, "--git-password-file", passwordFile,
				"--api", f.url, "--org", "acme.example", "--cache-dir", t.TempDir(), "--log-format", "json", "--log-level", "debug"}

			once := runChild(t, env, append([]string{"run", "--once", "--listen", "127.0.0.1:0"}, args...)...)
			if code := once.exitCode(); code != 1 {
				t.Errorf("run --once: exit %d, want 1", code)
			}
			plan := runChild(t, env, append([]string{"plan"}, args...)...)
			if code := plan.exitCode(); code != 1 {
				t.Errorf("plan: exit %d, want 1", code)
			}

			d := startServing(t, env, append([]string{"run", "--interval", "1s", "--webhook-secret-file", webhookFile}, args...)...)
			d.waitUntil("two failed cycles", time.Minute, func() bool { return d.cycles("") >= 2 })
			// Refused hooks too: a wrong signature, and the secret sent as a
			// GitLab token to the GitHub hook.
			for _, h := range []map[string]string{{"X-Hub-Signature-256": "sha256=00"}, {"X-Gitlab-Token": webhookSecret}} {
				req, _ := http.NewRequest(http.MethodPost, d.url("/hooks/github"), strings.NewReader("{}"))
				for k, v := range h {
					req.Header.Set(k, v)
				}
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
			outputs := map[string]string{
				"run --once stderr": once.stderr.String(), "run --once stdout": once.stdout.String(),
				"plan stdout": plan.stdout.String(), "plan stderr": plan.stderr.String(),
			}
			for _, p := range pages {
				body, _, err := d.get(p, 10*time.Second)
				if err != nil {
					t.Fatalf("GET %s: %v", p, err)
				}
				outputs["GET "+p] = body
			}
			d.stop()
			outputs["run log"] = d.stderr.String()
			outputs["run stdout"] = d.stdout.String()

			if !strings.Contains(outputs["GET /status"], "config.git") || !strings.Contains(outputs["run log"], "reconcile failed") {
				t.Fatalf("the daemon did not report the Git failure:\n%s", outputs["run log"])
			}
			for where, text := range outputs {
				for name, form := range forms {
					if strings.Contains(text, form) {
						i := strings.Index(text, form)
						t.Errorf("%s holds the %s (%q): …%s…", where, name, form, text[max(0, i-200):min(len(text), i+len(form)+50)])
					}
				}
				if strings.Contains(text, "request was:") {
					t.Errorf("%s holds the server's response body", where)
				}
			}
		})
	}
}

// A password in --git-url is refused at start with a message that names the
// flags, not the password or an internal field.
func TestHardeningURLPasswordNamesTheFlag(t *testing.T) {
	f := newFixture(t)
	const password = "hunter2-in-the-url"
	for _, tc := range []struct {
		url, want string
	}{
		{"https://bob:" + password + "@example.com/r.git",
			"Error: configuring the Git source: gitsource config: --git-url https://bob:REDACTED@example.com/r.git embeds a password; put it in --git-password-file instead\n"},
		{"https://bob:" + url.QueryEscape(password+"/é") + "@example.com/r.git",
			"Error: configuring the Git source: gitsource config: --git-url https://bob:REDACTED@example.com/r.git embeds a password; put it in --git-password-file instead\n"},
	} {
		c := runChild(t, childEnv(), "run", "--once", "--git-url", tc.url, "--org", "x", "--api", f.url, "--cache-dir", t.TempDir())
		if code := c.exitCode(); code != 1 {
			t.Errorf("%s: exit %d, want 1", tc.url, code)
		}
		if got := lastLine(c.stderr.String()); got != tc.want {
			t.Errorf("%s: stderr ends %q, want %q", tc.url, got, tc.want)
		}
		all := c.stdout.String() + c.stderr.String()
		for _, bad := range []string{password, url.QueryEscape(password), "Auth.", "PasswordFile"} {
			if strings.Contains(all, bad) {
				t.Errorf("%s: output holds %q:\n%s", tc.url, bad, all)
			}
		}
	}
}

// lastLine is the last line of s, with its newline.
func lastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:] + "\n"
}

// A Git server or proxy answering with a huge error page (300 MB here) is
// not read whole: run --once fails with a short error, in bounded memory.
// Before, go-git read the whole body into the error: 1.9 GB peak RSS for a
// 401, 1.4 GB for a 500.
func TestHardeningHugeGitErrorPage(t *testing.T) {
	f := newFixture(t)
	chunk := []byte(strings.Repeat("E", 1<<20))
	for _, status := range []int{http.StatusUnauthorized, http.StatusInternalServerError} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			for range 300 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		t.Cleanup(srv.Close)
		c := runChild(t, childEnv(), "run", "--once", "--listen", "127.0.0.1:0", "--git-url", srv.URL+"/config.git", "--api", f.url,
			"--org", "acme.example", "--cache-dir", t.TempDir(), "--log-format", "json")
		if code := c.exitCode(); code != 1 {
			t.Errorf("%d: exit %d, want 1", status, code)
		}
		if rss := c.peakRSS(); rss > maxRSS {
			t.Errorf("%d: peak RSS %d MiB, over %d MiB", status, rss>>20, maxRSS>>20)
		}
		if n := c.stderr.Len(); n > 4<<10 {
			t.Errorf("%d: %d bytes of log for one failed cycle", status, n)
		}
		if c.stderr.count("reconcile failed", nil) != 1 {
			t.Errorf("%d: no reconcile failed line:\n%s", status, c.stderr.String())
		}
	}
}
