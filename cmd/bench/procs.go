package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// workspace makes a temporary folder for one bench command and builds the
// daemon in it. done removes the folder, or with keep prints where it is.
func workspace(prefix string, keep bool) (tmp, bin string, done func(), err error) {
	tmp, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", "", nil, err
	}
	done = func() {
		if keep {
			fmt.Fprintln(os.Stderr, "keeping", tmp)
			return
		}
		os.RemoveAll(tmp)
	}
	bin, err = buildBinary(tmp)
	if err != nil {
		done()
		return "", "", nil, err
	}
	return tmp, bin, done, nil
}

// buildBinary compiles ./cmd/ca-reconciler the way .ko.yaml does.
func buildBinary(dir string) (string, error) {
	bin := filepath.Join(dir, "ca-reconciler")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=bench", "-o", bin, "./cmd/ca-reconciler")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building ca-reconciler (run the bench from the repository root): %w\n%s", err, out)
	}
	return bin, nil
}

// proc is a started child process.
type proc struct {
	cmd *exec.Cmd
	// stop's half: cancelling it interrupts the process (os/exec's Cancel,
	// then a kill after WaitDelay).
	cancel context.CancelFunc
	// done is closed when the process has exited; err is then its exit
	// status (a closed channel, so any number of waiters see it).
	done chan struct{}
	err  error
}

// childCommand is a command that stopping (cancelling it) interrupts
// (SIGINT), and kills when it has not exited 10s later.
func childCommand(name string, args ...string) (*exec.Cmd, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	return cmd, cancel
}

func startProc(cmd *exec.Cmd, cancel context.CancelFunc, onExit func()) *proc {
	p := &proc{cmd: cmd, cancel: cancel, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if onExit != nil {
			onExit()
		}
		close(p.done)
	}()
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop interrupts the process (SIGINT) and waits (SIGKILL after 10s).
func (p *proc) stop() {
	p.cancel()
	<-p.done
}

// emulatorSupports reports whether `ca-reconciler emulator` has a flag.
func emulatorSupports(bin, flag string) bool {
	out, _ := exec.Command(bin, "emulator", "--help").CombinedOutput()
	return bytes.Contains(out, []byte("--"+flag+" "))
}

// startEmulator runs `ca-reconciler emulator` and returns it with its URL.
func startEmulator(bin, seed, logFile string, latency time.Duration) (*proc, string, error) {
	args := []string{"emulator", "--listen", "127.0.0.1:0", "--seed", seed, "--token", benchToken, "--build-duration", "10ms"}
	if latency > 0 {
		args = append(args, "--latency", latency.String())
	}
	log, err := os.Create(logFile)
	if err != nil {
		return nil, "", err
	}
	cmd, cancel := childCommand(bin, args...)
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting the emulator: %w", err)
	}
	urlc := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := listeningURL(sc.Text()); ok {
				urlc <- u
			}
			fmt.Fprintln(log, sc.Text())
		}
	}()
	p := startProc(cmd, cancel, func() { <-scanned; log.Close() })
	select {
	case u := <-urlc:
		return p, u, nil
	case <-p.done:
		return nil, "", fmt.Errorf("the emulator exited: %v (see %s)", p.err, logFile)
	case <-time.After(5 * time.Minute):
		p.stop()
		return nil, "", fmt.Errorf("the emulator did not listen within 5 minutes (see %s)", logFile)
	}
}

// listeningURL reads the API URL from the emulator's "emulator listening
// on URL (events issuer URL)" line.
func listeningURL(line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "emulator listening on ")
	if !ok {
		return "", false
	}
	u, _, _ := strings.Cut(rest, " ")
	return u, u != ""
}

// daemon is a running `ca-reconciler run` and what its log says.
type daemon struct {
	*proc
	addr string // its --listen address
	log  *logTail
}

// startDaemon runs `ca-reconciler run` with JSON logs in logFile.
func startDaemon(bin, logFile string, env []string, args ...string) (*daemon, error) {
	log, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd, cancel := childCommand(bin, append([]string{"run", "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "info", "--pprof"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the daemon: %w", err)
	}
	d := &daemon{proc: startProc(cmd, cancel, func() { log.Close() }), log: newLogTail(logFile)}
	line, err := d.log.wait(func(l logLine) bool { return l.Msg == "serving" }, 2*time.Minute, d.proc)
	if err != nil {
		d.stop()
		return nil, fmt.Errorf("the daemon did not start: %w (%s ends: %s)", err, logFile, lastLines(logFile, 3))
	}
	d.addr = line.Addr
	return d, nil
}

// lastLines is the end of a log file, for errors.
func lastLines(file string, n int) string {
	b, _ := os.ReadFile(file)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// logLine is one JSON log line of the daemon, the fields the bench reads.
type logLine struct {
	TS       string  `json:"ts"`
	Msg      string  `json:"msg"`
	Addr     string  `json:"addr"`
	Repo     string  `json:"repo"`
	Writes   int     `json:"writes"`
	Result   string  `json:"result"`
	Trigger  string  `json:"trigger"`
	Duration float64 `json:"duration"`
	// FilesParsed is set on "revision parsed".
	FilesParsed int `json:"files_parsed"`
}

func (l logLine) time() time.Time {
	t, _ := time.Parse("2006-01-02T15:04:05.000Z0700", l.TS)
	return t
}

// cycleEnd reports whether a log line ends a reconcile cycle.
func (l logLine) cycleEnd() bool { return l.Msg == "reconcile finished" || l.Msg == "reconcile failed" }

// logTail reads a growing log file line by line.
type logTail struct {
	mu      sync.Mutex
	path    string
	off     int64
	part    []byte
	pending []logLine // read, not yet consumed by wait
}

func newLogTail(path string) *logTail { return &logTail{path: path} }

// poll reads what was appended since the last call.
func (t *logTail) poll() []logLine {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.Open(t.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(f)
	t.off += int64(len(b))
	t.part = append(t.part, b...)
	var out []logLine
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		var l logLine
		if json.Unmarshal(t.part[:i], &l) == nil {
			out = append(out, l)
		}
		t.part = t.part[i+1:]
	}
	return out
}

// drop forgets every line read so far, consumed or not.
func (t *logTail) drop() {
	t.poll()
	t.mu.Lock()
	t.pending = nil
	t.mu.Unlock()
}

// next returns the next unconsumed line, reading more when needed.
func (t *logTail) next() (logLine, bool) {
	t.mu.Lock()
	if len(t.pending) == 0 {
		t.mu.Unlock()
		more := t.poll()
		t.mu.Lock()
		t.pending = append(t.pending, more...)
	}
	defer t.mu.Unlock()
	if len(t.pending) == 0 {
		return logLine{}, false
	}
	l := t.pending[0]
	t.pending = t.pending[1:]
	return l, true
}

// wait polls until a line matches, the timeout passes or the process ends.
func (t *logTail) wait(match func(logLine) bool, timeout time.Duration, p *proc) (logLine, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for l, ok := t.next(); ok; l, ok = t.next() {
			if match(l) {
				return l, nil
			}
		}
		select {
		case <-p.done:
			for l, ok := t.next(); ok; l, ok = t.next() {
				if match(l) {
					return l, nil
				}
			}
			return logLine{}, fmt.Errorf("the process exited: %v", p.err)
		case <-time.After(2 * time.Millisecond):
		}
	}
	return logLine{}, errors.New("timed out")
}

// cpuTime is a process's user+system CPU time from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

// clockTicks is USER_HZ, 100 on every Linux the bench runs on.
const clockTicks = 100

// parseStat reads utime and stime (fields 14 and 15) of /proc/PID/stat;
// the command name (field 2) may hold spaces, so fields count from its ')'.
func parseStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat %q", s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat %q", s)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("unexpected /proc stat %q: %w", s, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// memOf reads a process's resident memory from /proc/PID/status.
func memOf(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	for _, f := range []struct {
		name string
		v    *int64
	}{{"VmRSS", &m.rss}, {"RssAnon", &m.anon}, {"RssFile", &m.file}} {
		if *f.v, err = parseStatus(string(b), f.name); err != nil {
			return memory{}, err
		}
	}
	return m, nil
}

// procStatus reads one kB field of /proc/PID/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatus(string(b), field)
}

// rss is a process's resident set size from /proc/PID/status, in bytes.
func rss(pid int) (int64, error) { return procStatus(pid, "VmRSS") }

func parseRSS(status string) (int64, error) { return parseStatus(status, "VmRSS") }

// parseStatus reads a kB field ("VmRSS:\t 65536 kB") of /proc/PID/status.
func parseStatus(status, field string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %q: %w", field, v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

// scrape fetches /metrics and returns each sample's value by series line
// name (labels included) and the body's size.
func scrape(ctx context.Context, addr string) (map[string]float64, int, error) {
	body, err := get(ctx, "http://"+addr+"/metrics")
	if err != nil {
		return nil, 0, err
	}
	return parseMetrics(string(body)), len(body), nil
}

func parseMetrics(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// sum adds the samples of a metric over all its label sets, optionally
// only those whose labels contain match.
func sum(m map[string]float64, name, match string) float64 {
	var t float64
	for k, v := range m {
		if (k == name || strings.HasPrefix(k, name+"{")) && strings.Contains(k, match) {
			t += v
		}
	}
	return t
}

// series counts the series of metrics whose name starts with prefix and
// whose labels contain match.
func series(m map[string]float64, prefix, match string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) && strings.Contains(k, match) {
			n++
		}
	}
	return n
}

func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}

// profile saves a pprof profile of the daemon (path as under /debug/pprof/).
func profile(ctx context.Context, addr, path, file string) error {
	b, err := get(ctx, "http://"+addr+"/debug/pprof/"+path)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}
