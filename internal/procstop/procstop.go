// Package procstop stops a child process: a signal first, a kill when it
// has not exited after a grace period. The benchmark's children and the
// binary the acceptance tests run as a daemon stop this way.
package procstop

import (
	"os"
	"time"
)

// Stop sends sig to p unless done (closed when p has exited and been
// waited for) is closed already, waits for done up to grace, then kills p
// and waits for done.
func Stop(p *os.Process, sig os.Signal, done <-chan struct{}, grace time.Duration) {
	select {
	case <-done:
		return
	default:
	}
	_ = p.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.Kill()
		<-done
	}
}
