package procstop_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ca-reconciler/ca-reconciler/internal/procstop"
)

// start runs sh -c script and returns it with a channel closed once it has
// been waited for; it is killed when the test ends, if still running.
func start(t *testing.T, script string) (*exec.Cmd, chan struct{}) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Skipf("no sh: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return cmd, done
}

func TestStopSignals(t *testing.T) {
	cmd, done := start(t, "exec sleep 60")
	began := time.Now()
	procstop.Stop(cmd.Process, syscall.SIGTERM, done, time.Minute)
	if took := time.Since(began); took > 30*time.Second {
		t.Errorf("stopping took %v: the signal did not end it", took)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGTERM {
		t.Errorf("exit status %v, want killed by SIGTERM", cmd.ProcessState)
	}
}

func TestStopKillsAfterTheGrace(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	cmd, done := start(t, "trap '' TERM; touch '"+ready+"'; while :; do sleep 0.1; done")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break // the trap is set
		}
		if time.Now().After(deadline) {
			t.Fatal("the shell did not set its trap in 30s")
		}
	}
	procstop.Stop(cmd.Process, syscall.SIGTERM, done, 300*time.Millisecond)
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("exit status %v, want killed by SIGKILL", cmd.ProcessState)
	}
}

func TestStopOfAnExitedProcess(t *testing.T) {
	cmd, done := start(t, "exit 0")
	<-done
	procstop.Stop(cmd.Process, syscall.SIGTERM, done, time.Minute)
	if !cmd.ProcessState.Success() {
		t.Errorf("exit status %v", cmd.ProcessState)
	}
}
