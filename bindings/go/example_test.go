package xsvc_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// examples/go is built, vetted and run against the fixture, so it cannot
// rot: it resolves "web" and fetches a page through http.Transport.
func TestExampleProgramBuildsAndRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	dir, err := filepath.Abs("../../examples/go")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "example")
	for _, args := range [][]string{{"vet", "."}, {"build", "-o", bin, "."}} {
		cmd := exec.Command(gobin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	f := newFixture(t)
	out, err := exec.Command(bin, "-f", f.dir, "-n", "prod", "-server", f.upstream.Addr,
		"-allow", "127.0.0.0/8", "-get", "http://web:"+f.port+"/", "web").CombinedOutput()
	if err != nil {
		t.Fatalf("example: %v\n%s", err, out)
	}
	for _, want := range []string{"127.0.0.1 ttl 5s (registry)", "200 OK", "hello web:" + f.port,
		"TLS/Host name web.prod.svc.cluster.local. (addresses at web.prod.svc.cluster.local.)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(bin, "-f", f.dir, "-n", "prod", "-server", f.upstream.Addr,
		"nosuch.prod.svc.cluster.local.").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not found (tried nosuch.prod.svc.cluster.local.)") {
		t.Errorf("not found: %v\n%s", err, out)
	}
}
