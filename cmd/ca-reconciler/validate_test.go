package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/ca-reconciler/ca-reconciler/internal/testenv"
)

// checkGolden compares got with the golden file name in testdata, or
// writes it there with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	testenv.Golden(t, filepath.Join(testdataDir(t), name), got, *update)
}

// validate prints exactly the overlay package's golden problem lines for
// every bad input, one line per problem, and exits 1; good inputs pass.
func TestValidateBadInputs(t *testing.T) {
	files, err := filepath.Glob("../../overlay/testdata/bad/*.yaml")
	if err != nil || len(files) < 30 {
		t.Fatalf("want at least 30 bad inputs, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			golden, err := os.ReadFile(f + ".err")
			if err != nil {
				t.Fatal(err)
			}
			// The goldens name files relative to the overlay package.
			want := strings.ReplaceAll(string(golden), "testdata/bad/", "../../overlay/testdata/bad/")
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"validate", f}, &stdout, &stderr, func(string) (string, bool) { return "", false })
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if stdout.String() != want {
				t.Errorf("validate printed:\n%s\nwant:\n%s", stdout.String(), want)
			}
		})
	}
}

func TestValidateFolders(t *testing.T) {
	var stdout, stderr bytes.Buffer
	nope := func(string) (string, bool) { return "", false }
	if code := run(context.Background(), []string{"validate", "../../overlay/testdata/good", "../../examples/ca-images-iac"}, &stdout, &stderr, nope); code != 0 {
		t.Errorf("good folders: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"a.yaml":   "contents:\n  packages: [curl]\n",
		"a.yml":    "contents:\n  packages: [jq]\n",
		"b.yaml":   "environment:\n  CHAINGUARD_X: y\n",
		"notes.md": "ignored",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout.Reset()
	code := run(context.Background(), []string{"validate", dir}, &stdout, &stderr, nope)
	want := "files " + dir + "/a.yaml, " + dir + "/a.yml all manage repo \"a\"; none of them is applied\n" +
		dir + "/b.yaml:2:3: environment.CHAINGUARD_X: key prefix \"CHAINGUARD_\" is reserved\n"
	if code != 1 || stdout.String() != want {
		t.Errorf("exit %d, printed:\n%s\nwant:\n%s", code, stdout.String(), want)
	}
	if code := run(context.Background(), []string{"validate", filepath.Join(dir, "missing")}, &stdout, &stderr, nope); code != 1 {
		t.Errorf("missing path: exit %d", code)
	}
}

// runValidate runs the validate command and returns its exit code, stdout
// and stderr.
func runValidate(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"validate"}, args...), &stdout, &stderr, func(string) (string, bool) { return "", false })
	return code, stdout.String(), stderr.String()
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Warnings print and are counted, but fail only with --strict.
func TestValidateWarnings(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"app.yaml": "accounts:\n  run-as: ghost\n"})
	file := filepath.Join(dir, "app.yaml")
	wantOut := file + `:2:11: warning: accounts.run-as: user "ghost" is defined neither in accounts.users nor by Chainguard's base images (nonroot, root, nobody, ...); the container starts only if the image defines it` + "\n"
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{file}, 0},
		{[]string{dir}, 0},
		{[]string{"--strict", file}, 1},
		{[]string{"--strict", dir}, 1},
	} {
		code, stdout, stderr := runValidate(t, tc.args...)
		if code != tc.code || stdout != wantOut || stderr != "0 error(s), 1 warning(s), 0 ignored\n" {
			t.Errorf("validate %v: exit %d (want %d)\nstdout %q\nwant   %q\nstderr %q", tc.args, code, tc.code, stdout, wantOut, stderr)
		}
	}
	if code, _, stderr := runValidate(t, "-o", "yaml", file); code != 1 || !strings.Contains(stderr, `--output "yaml": want text or github`) {
		t.Errorf("bad --output: exit %d, stderr %q", code, stderr)
	}
}

// A folder with hostile file names and messages, symbolic links and a named
// pipe, in both output formats, compared with golden files.
func TestValidateGolden(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		// Properties escape "%", ":" and ",", and CR/LF.
		"ca-images-iac/we,ird:name%25.yaml": "environment:\n  CHAINGUARD_X: y\naccounts:\n  run-as: ghost\n",
		// Two files for one repo, whose names hold a newline: the message
		// names them raw, and the data escaping keeps it one line.
		"ca-images-iac/two\nlines.yaml": "contents:\n  packages: [curl]\n",
		"ca-images-iac/two\nlines.yml":  "contents:\n  packages: [jq]\n",
		// Messages holding "%", "::" and a quoted newline.
		"ca-images-iac/msgs.yaml":  "environment:\n  \"A%0AB\": x\n  \"X\\nY::error::Z\": x\nbad%key: 1\n",
		"ca-images-iac/ok.yaml":    "contents:\n  packages: [curl]\n",
		"ca-images-iac/README.md":  "ignored, not reported",
		"ca-images-iac/sub/a.yaml": "contents:\n  packages: [curl]\n",
	})
	iac := filepath.Join(dir, "ca-images-iac")
	if err := os.Symlink("ok.yaml", filepath.Join(iac, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(iac, "outside.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(iac, "pipe.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, tc := range []struct{ golden, output string }{
		{"validate-text.golden", "text"},
		{"validate-github.golden", "github"},
	} {
		t.Run(tc.output, func(t *testing.T) {
			code, stdout, stderr := runValidate(t, "-o", tc.output, "ca-images-iac")
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if want := "5 error(s), 1 warning(s), 3 ignored\n"; stderr != want {
				t.Errorf("stderr %q, want %q", stderr, want)
			}
			if strings.Count(stdout, "\n") != 9 {
				t.Errorf("want 9 lines, one per finding:\n%s", stdout)
			}
			checkGolden(t, tc.golden, stdout)
		})
	}
}

// testdataDir is this package's testdata folder, whatever the working
// directory now is.
func testdataDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "testdata")
}

func TestGitHubEscaping(t *testing.T) {
	for _, tc := range []struct {
		f    finding
		want string
	}{
		{finding{kind: findingError, file: "a,b:c%d\r\ne.yaml", line: 3, column: 4, field: "f", message: "100% bad\r\nreally: yes, ::x::"},
			"::error file=a%2Cb%3Ac%25d%0D%0Ae.yaml,line=3,col=4::f: 100%25 bad%0D%0Areally: yes, ::x::"},
		{finding{kind: findingWarning, file: "f.yaml", line: 2, message: "m"}, "::warning file=f.yaml,line=2::m"},
		{finding{kind: findingNotice, file: "l.yaml", message: "ignored: symbolic link"}, "::notice file=l.yaml::ignored: symbolic link"},
		{finding{kind: findingError, message: "no file"}, "::error::no file"},
	} {
		if got := writeGitHub(tc.f); got != tc.want {
			t.Errorf("writeGitHub(%+v)\n = %q\nwant %q", tc.f, got, tc.want)
		}
	}
}

// Issue 10: a file of one 100 KB anchored scalar and 2,000 aliases made
// validate print gigabytes, and a 5 MB annotation value passed. Both end
// in one short error line.
func TestValidateHostileFiles(t *testing.T) {
	big := strings.Repeat("x", 100<<10)
	var aliases strings.Builder
	aliases.WriteString("annotations:\n  a: &big " + big + "\n  list: [")
	for i := range 2000 {
		if i > 0 {
			aliases.WriteString(", ")
		}
		aliases.WriteString("*big")
	}
	aliases.WriteString("]\n")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"aliases.yaml": aliases.String(),
		"huge.yaml":    "annotations:\n  com.example.blob: " + strings.Repeat("a", 5<<20) + "\n",
	})
	code, stdout, _ := runValidate(t, dir)
	want := dir + "/aliases.yaml:3:64: annotations.list[9]: the file expands to more than 1048576 bytes with its aliases replaced (limit 1 MiB)\n" +
		dir + "/huge.yaml:2:1048564: file is larger than the limit of 1048576 bytes (1 MiB)\n"
	if code != 1 || stdout != want {
		t.Errorf("exit %d, printed:\n%s\nwant:\n%s", code, stdout, want)
	}
}

//go:generate go test -count=1 -run ^TestValidateSettingsGolden$ . -update

// validate reads the folder's settings file as the daemon does: its errors
// fail, a setting for a repo that no file names is a warning, and the file
// given alone is checked by its own rules. Compared with a golden file.
func TestValidateSettingsGolden(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"bad/.ca-reconciler.yaml": "repos:\n  web:\n    suspended: true\n  api:\n    source: [node]\n  ok:\n    suspend: yes\n",
		"bad/web.yaml":            "contents:\n  packages: [curl]\n",
		"good/.ca-reconciler.yaml": "repos:\n  web:\n    suspend: true\n  custom-node:\n    source: node\n" +
			"  ghost:\n    suspend: true\n",
		"good/web.yaml":         "contents:\n  packages: [curl]\n",
		"good/custom-node.yaml": "environment:\n  NODE_ENV: production\n",
	})
	t.Chdir(dir)
	var out strings.Builder
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"bad"}, 1},
		{[]string{"bad/.ca-reconciler.yaml"}, 1},
		{[]string{"good"}, 0},
		{[]string{"--strict", "good"}, 1},
		{[]string{"good/.ca-reconciler.yaml"}, 0},
		{[]string{"-o", "github", "good"}, 0},
	} {
		code, stdout, stderr := runValidate(t, tc.args...)
		if code != tc.code {
			t.Errorf("validate %v: exit %d, want %d\n%s%s", tc.args, code, tc.code, stdout, stderr)
		}
		fmt.Fprintf(&out, "$ ca-reconciler validate %s  # exit %d\n%s%s", strings.Join(tc.args, " "), code, stdout, stderr)
	}
	checkGolden(t, "validate-settings.golden", out.String())
}
