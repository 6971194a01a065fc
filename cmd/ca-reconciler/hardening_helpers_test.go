package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ca-reconciler/ca-reconciler/emulator"
	"github.com/ca-reconciler/ca-reconciler/internal/testenv/emutest"
)

// The hardening tests run the real binary as a child process, built once per
// test binary the way .ko.yaml builds it (CGO_ENABLED=0, -trimpath), so that
// what they measure (peak RSS, file descriptors, bytes written) is the
// daemon's own and not the test process's.

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// launchEnv, when set in the test binary's environment, makes it the
// launcher of runChild instead of running tests; its value is the file the
// launcher writes the child's peak RSS to.
const launchEnv = "CA_RECONCILER_HARDENING_LAUNCH"

// TestMain removes the binary the hardening tests built, and runs the
// launcher when asked to.
func TestMain(m *testing.M) {
	if out, ok := os.LookupEnv(launchEnv); ok {
		os.Exit(launch(out, os.Args[1:]))
	}
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// launch runs args as a child with this process's standard files and
// environment (less launchEnv), passes SIGTERM and SIGINT on, writes the
// child's peak RSS in KiB (getrusage's ru_maxrss) to out and returns its
// exit code.
//
// Why a launcher: on Linux a child's ru_maxrss starts from the RSS of the
// process that exec'd it (the kernel folds the old memory map's high-water
// mark in at exec), and the test process, with the race detector, is
// larger than the bound being checked. This process is small when it
// starts the child, so the figure is the child's own peak, over-estimated
// at most by this process's RSS at start (some 20 MiB).
func launch(out string, args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, launchEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		return 127
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for sig := range sigs {
			_ = cmd.Process.Signal(sig)
		}
	}()
	_ = cmd.Wait()
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if err := os.WriteFile(out, []byte(strconv.FormatInt(ru.Maxrss, 10)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		return 127
	}
	return cmd.ProcessState.ExitCode()
}

// daemonBinary returns the path of ./cmd/ca-reconciler built for this test
// run.
func daemonBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "ca-reconciler-hardening-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "ca-reconciler")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=hardening", "-o", built.bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// keepBytes is how much of a child's output a test keeps to read; the rest
// is only counted, so a runaway child cannot take the test's memory.
const keepBytes = 4 << 20

// capture counts every byte written to it and keeps the first keepBytes.
type capture struct {
	mu sync.Mutex
	n  int64
	b  bytes.Buffer
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += int64(len(p))
	if room := keepBytes - c.b.Len(); room > 0 {
		c.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// Len is the number of bytes written.
func (c *capture) Len() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

// logLines returns the JSON log lines written so far, decoded.
func (c *capture) logLines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(c.String()))
	sc.Buffer(make([]byte, 0, 64<<10), keepBytes)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// count returns how many log lines have msg and, when set, every field of
// match with that value (compared as printed).
func (c *capture) count(msg string, match map[string]string) int {
	n := 0
next:
	for _, l := range c.logLines() {
		if l["msg"] != msg {
			continue
		}
		for k, v := range match {
			if fmt.Sprint(l[k]) != v {
				continue next
			}
		}
		n++
	}
	return n
}

// child is the real binary running as a child process: directly
// (startChild, whose peak RSS is sampled from /proc while it runs), or
// under the launcher (runChild, which reports it exactly at the end).
type child struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *capture
	done           chan struct{}
	addr           string // the --listen address, for run without --once

	rssFile string       // under the launcher: where it writes the peak RSS
	peak    atomic.Int64 // directly: the highest VmHWM sampled, in bytes
}

// env is the environment of a child: the test's own PATH and HOME, the
// API token, and extra. The test process's CA_RECONCILER_ variables,
// GOMEMLIMIT and GOGC are left out.
func childEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CA_RECONCILER_") && !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GOGC=") {
			out = append(out, kv)
		}
	}
	return append(append(out, "CA_RECONCILER_TOKEN="+apiToken), extra...)
}

// startChild starts the binary with args and env, and samples its peak
// RSS (VmHWM, the high-water mark of its own memory map) every 20ms while
// it runs.
func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	c := &child{t: t, stdout: &capture{}, stderr: &capture{}, done: make(chan struct{})}
	c.cmd = exec.Command(daemonBinary(t), args...)
	c.cmd.Env = env
	c.start()
	go func() {
		for {
			if v, err := procStatus(c.cmd.Process.Pid, "VmHWM"); err == nil && v*1024 > c.peak.Load() {
				c.peak.Store(v * 1024)
			}
			select {
			case <-c.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return c
}

// start starts c.cmd in its own process group, which the test's end kills.
func (c *child) start() {
	c.t.Helper()
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	c.t.Cleanup(func() {
		c.kill()
		<-c.done
	})
}

// kill ends the child's process group: the child, and under the launcher
// the binary it runs.
func (c *child) kill() { _ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL) }

// runChild runs the binary under the launcher to its end (at most two
// minutes) and returns it, exited, with its exact peak RSS.
func runChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	c := &child{t: t, stdout: &capture{}, stderr: &capture{}, done: make(chan struct{}), rssFile: filepath.Join(t.TempDir(), "rss")}
	c.cmd = exec.Command(os.Args[0], append([]string{daemonBinary(t)}, args...)...)
	c.cmd.Env = append(env, launchEnv+"="+c.rssFile)
	c.start()
	select {
	case <-c.done:
	case <-time.After(2 * time.Minute):
		c.kill()
		<-c.done
		t.Fatalf("%v did not finish within 2 minutes\nstderr:\n%s", args, c.stderr.String())
	}
	return c
}

// startServing starts `run` (args must not hold --listen) on a free
// loopback port and waits for its "serving" log line.
func startServing(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	c := startChild(t, env, append(args, "--listen", "127.0.0.1:0", "--log-format", "json")...)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		for _, l := range c.stderr.logLines() {
			if l["msg"] == "serving" {
				c.addr, _ = l["addr"].(string)
				return c
			}
		}
		select {
		case <-c.done:
			t.Fatalf("the daemon exited at start (%v)\nstderr:\n%s", c.cmd.ProcessState, c.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not serve within a minute\nstderr:\n%s", c.stderr.String())
		}
	}
}

// logged is the string value of key in the first JSON log line whose msg
// is msg, or "" when there is none yet.
func (c *child) logged(msg, key string) string {
	for _, l := range c.stderr.logLines() {
		if l["msg"] == msg {
			v, _ := l[key].(string)
			return v
		}
	}
	return ""
}

// stop sends SIGTERM and waits for the child (SIGKILL after 10s).
func (c *child) stop() {
	c.t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.kill()
		<-c.done
		c.t.Errorf("the daemon did not stop within 10s of SIGTERM")
	}
}

// exitCode is the child's exit status; it must have exited.
func (c *child) exitCode() int {
	<-c.done
	return c.cmd.ProcessState.ExitCode()
}

// peakRSS is the child's peak resident set size in bytes so far: under the
// launcher, the ru_maxrss it reported (the child must have exited); run
// directly, the highest VmHWM sampled, read once more if it still runs.
func (c *child) peakRSS() int64 {
	c.t.Helper()
	if c.rssFile != "" {
		<-c.done
		b, err := os.ReadFile(c.rssFile)
		if err != nil {
			c.t.Fatalf("the launcher reported no peak RSS: %v", err)
		}
		kb, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			c.t.Fatal(err)
		}
		return kb * 1024
	}
	if v, err := procStatus(c.cmd.Process.Pid, "VmHWM"); err == nil && v*1024 > c.peak.Load() {
		c.peak.Store(v * 1024)
	}
	return c.peak.Load()
}

// procStatus reads a "kB" or count field of /proc/PID/status.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// fds counts the child's open file descriptors.
func (c *child) fds() int {
	c.t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.cmd.Process.Pid))
	if err != nil {
		c.t.Fatal(err)
	}
	return len(ents)
}

// url is an address on the daemon's --listen server.
func (c *child) url(path string) string { return "http://" + c.addr + path }

// get reads path from the daemon with a deadline, returning the body, the
// status code (0 when the request failed) and the error. Each request opens
// a new connection, as a kubelet probe or a Prometheus scrape of a
// restarted target does: a kept-alive one would hide a server that accepts
// no more connections.
func (c *child) get(path string, timeout time.Duration) (string, int, error) {
	cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get(c.url(path))
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return b.String(), resp.StatusCode, err
}

// metric returns the sum of the samples of a metric whose labels hold every
// one of labels ("name=\"value\""), from one /metrics scrape.
func (c *child) metric(name string, labels ...string) float64 {
	c.t.Helper()
	body, code, err := c.get("/metrics", 10*time.Second)
	if err != nil || code != http.StatusOK {
		c.t.Fatalf("GET /metrics: %d %v", code, err)
	}
	return sampleSum(body, name, labels...)
}

func sampleSum(body, name string, labels ...string) float64 {
	var total float64
next:
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			total += v
		}
	}
	return total
}

// waitUntil polls cond every 20ms for up to limit.
func (c *child) waitUntil(what string, limit time.Duration, cond func() bool) {
	c.t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		select {
		case <-c.done:
			c.t.Fatalf("the daemon exited while waiting for %s\nstderr:\n%s", what, c.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s\nstderr (first %d bytes):\n%s", limit, what, keepBytes, c.stderr.String())
		}
	}
}

// cycles is the number of cycles the daemon finished, by trigger ("" any).
func (c *child) cycles(trigger string) float64 {
	if trigger == "" {
		return c.metric("ca_reconciler_reconciles_total")
	}
	return c.metric("ca_reconciler_reconciles_total", `trigger="`+trigger+`"`)
}

const (
	// maxOutput is the acceptance bound on any command's output, any log,
	// any page.
	maxOutput = 1 << 20
	// maxRSS is the acceptance bound on the peak RSS for one file under
	// 1 MB.
	maxRSS = 256 << 20
)

// checkBounded fails the test when any of outputs (name → size) is over
// maxOutput.
func checkBounded(t *testing.T, outputs map[string]int64) {
	t.Helper()
	for name, n := range outputs {
		if n > maxOutput {
			t.Errorf("%s is %d bytes, over the bound of %d", name, n, maxOutput)
		}
	}
}

// newFixtureWith is newFixture with the emulator's options chosen by the
// test (the token is always apiToken).
func newFixtureWith(t *testing.T, opts emulator.Options) *fixture {
	t.Helper()
	opts.Token = apiToken
	if opts.BuildDuration == 0 {
		opts.BuildDuration = 10 * time.Millisecond
	}
	emu, url := emutest.Start(t, opts)
	f := &fixture{t: t, emu: emu, url: url, dir: t.TempDir(), repos: map[string]string{}}
	f.orgID = emu.CreateOrg("acme.example")
	f.env = map[string]string{"CA_RECONCILER_TOKEN": apiToken}
	f.git("init", "-q", "-b", "main")
	return f
}

// daemonArgs are the arguments that point a child at the fixture.
func (f *fixture) daemonArgs(extra ...string) []string {
	return append([]string{"--git-url", f.dir, "--api", f.url, "--org", "acme.example", "--cache-dir", f.t.TempDir(), "--log-format", "json"}, extra...)
}
