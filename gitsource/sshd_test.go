package gitsource

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
)

// sshServer is an OpenSSH sshd run by a test on a loopback port.
type sshServer struct {
	port    int
	user    string
	hostKey ssh.PublicKey
}

// url is an ssh:// URL for the repository at the absolute path dir.
func (s *sshServer) url(dir string) string {
	return fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", s.user, s.port, dir)
}

// requireSSHD finds sshd. Without it the test is skipped, except under
// CI=true, where it must be installed (Debian package openssh-server).
func requireSSHD(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("sshd")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/sshd"); statErr == nil {
			path, err = "/usr/sbin/sshd", nil
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sshd is not installed; CI needs the openssh-server package")
		}
		t.Skip("sshd is not installed (apt-get install openssh-server); this test is required when CI=true")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the sshd test runs sshd as root; CI must run as root")
		}
		t.Skip("the sshd test runs sshd as root")
	}
	return path
}

// startSSHD runs sshd -D -e on a free loopback port with a new host key,
// accepting the given client keys for the current user, until the test ends.
func startSSHD(t *testing.T, authorized ...ssh.PublicKey) *sshServer {
	t.Helper()
	sshd := requireSSHD(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	host := newSSHKey(t, dir, "host_ed25519", "")
	if err := os.Chmod(host.file, 0o600); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range authorized {
		keys = append(keys, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))))
	}
	authFile := filepath.Join(dir, "authorized_keys")
	writeFile(t, authFile, strings.Join(keys, "\n")+"\n")
	// sshd's privilege separation directory; the systemd unit usually
	// creates it.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	config := filepath.Join(dir, "sshd_config")
	writeFile(t, config, fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowUsers %s
PrintMotd no
LogLevel VERBOSE
`, port, host.file, authFile, filepath.Join(dir, "sshd.pid"), me.Username))

	log := &testenv.SyncBuffer{} // sshd's log, for failing tests
	cmd := exec.Command(sshd, "-D", "-e", "-f", config)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})

	// Wait until sshd answers with its version banner.
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("sshd exited: %v\n%s", err, log.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if strings.HasPrefix(line, "SSH-2.0") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not come up on port %d:\n%s", port, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &sshServer{port: port, user: me.Username, hostKey: host.public}
}
