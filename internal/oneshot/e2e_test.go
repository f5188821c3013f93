package oneshot

// End-to-end tests of the built image, run the way atomic runs it. They need
// the image (SCANNER_TEST_IMAGE, built by scripts/build-image.sh), the docker
// CLI and a daemon: without them they skip when run by hand and fail in CI.

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"

	"github.com/centos-pipeline/analytics-scanner/internal/atomicscan/atomicscantest"
	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// scannerImage returns the image under test and a daemon, or skips (fails
// in CI) when either is missing.
func scannerImage(t *testing.T) (string, *dockertest.Daemon) {
	t.Helper()
	image := os.Getenv("SCANNER_TEST_IMAGE")
	if image == "" {
		testenv.Require(t, "the scanner image", errors.New("SCANNER_TEST_IMAGE is not set (scripts/build-image.sh builds analytics-scanner:dev)"))
	}
	_, err := exec.LookPath("docker")
	testenv.Require(t, "the docker CLI", err)
	d := dockertest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.Client.ImageInspect(ctx, image); err != nil {
		// Asked for by name: its absence is a failure, not a skip.
		t.Fatalf("SCANNER_TEST_IMAGE=%s: %v", image, err)
	}
	return image, d
}

// dockerCLI runs the docker CLI, with env added to this process's
// environment, and returns its combined output.
func dockerCLI(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("docker %s\n%s", strings.Join(args, " "), out)
	return string(out), err
}

var envVar = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// substitute replaces $VARS as atomic does: from its environment, and
// undefined ones with "".
func substitute(s string, env map[string]string) string {
	return envVar.ReplaceAllStringFunc(s, func(m string) string {
		return env[envVar.FindStringSubmatch(m)[1]]
	})
}

// bridgeAddress is this machine's address on Docker's default bridge, where
// a container reaches the host: the bridge's gateway. It is checked to be
// one of this machine's own addresses.
func bridgeAddress(t *testing.T, d *dockertest.Daemon) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nw, err := d.Client.NetworkInspect(ctx, "bridge", network.InspectOptions{})
	if err != nil {
		t.Fatalf("inspect the bridge network: %v", err)
	}
	var subnets []*net.IPNet
	gateway := ""
	for _, c := range nw.IPAM.Config {
		if c.Gateway != "" && gateway == "" {
			gateway = c.Gateway
		}
		if _, n, err := net.ParseCIDR(c.Subnet); err == nil {
			subnets = append(subnets, n)
		}
	}
	// Some daemons leave the gateway out of IPAM: it is then the bridge
	// interface's own address within the subnet.
	local, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range local {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		if gateway != "" {
			if ipn.IP.String() == gateway {
				return gateway
			}
			continue
		}
		for _, n := range subnets {
			if n.Contains(ipn.IP) {
				return ipn.IP.String()
			}
		}
	}
	t.Fatalf("no address of this machine on the bridge network (gateway %q, subnets %v)", gateway, subnets)
	return ""
}

func TestE2EAtomicScanRunsTheImage(t *testing.T) {
	image, d := scannerImage(t)
	name, id := buildImage(t, d, "e2e-under-test", goodLabels)

	// The analytics server listens on the bridge, where the container can
	// reach it, and nowhere else.
	emu := emulator.New(emulator.Config{})
	srv := httptest.NewUnstartedServer(emu)
	l, err := net.Listen("tcp", net.JoinHostPort(bridgeAddress(t, d), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	rec := &analyticsServer{Server: srv, emu: emu}
	t.Cleanup(srv.Close)
	server := srv.URL + "/api/v1"

	// The configuration `scan install` writes, as atomic reads it.
	root := t.TempDir()
	if out := runCommand(t, map[string]string{"IMAGE": image}, "install", "--root", root); out.code != exitOK {
		t.Fatalf("install: exit %d", out.code)
	}
	cfg := atomicConfig(t, root)
	var customArgs, scanArgs []string
	for _, a := range cfg["custom_args"].([]any) {
		customArgs = append(customArgs, a.(string))
	}
	for _, s := range cfg["scans"].([]any) {
		if s := s.(map[string]any); s["name"] == cfg["default_scan"] {
			for _, a := range s["args"].([]any) {
				scanArgs = append(scanArgs, a.(string))
			}
		}
	}
	if cfg["image_name"] != image || len(scanArgs) == 0 {
		t.Fatalf("config names image %v and scan args %q", cfg["image_name"], scanArgs)
	}

	// What atomic does: a folder per image under /scanin, named by its id,
	// and an empty /scanout.
	base := t.TempDir()
	scanIn, scanOut := filepath.Join(base, "scanin"), filepath.Join(base, "scanout")
	for _, dir := range []string{filepath.Join(scanIn, id), scanOut} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	atomicEnv := map[string]string{"IMAGE_NAME": name, "SERVER": server}
	args := []string{"run", "--rm", "-v", scanIn + ":/scanin", "-v", scanOut + ":/scanout"}
	if _, err := os.Stat("/etc/localtime"); err == nil {
		args = append(args, "-v", "/etc/localtime:/etc/localtime")
	}
	// atomic joins the command with spaces, substitutes and splits again.
	cmd := strings.Fields(substitute(strings.Join(append(append(customArgs, image), scanArgs...), " "), atomicEnv))
	// The token is in atomic's environment only; the configuration's bare
	// "-e ANALYTICS_TOKEN" makes docker pass it on.
	const token = "e2e-token-5b7c0d9e"
	out, err := dockerCLI(t, []string{"ANALYTICS_TOKEN=" + token}, append(args, cmd...)...)
	if err != nil {
		t.Fatalf("scanner container failed: %v", err)
	}
	if !strings.Contains(out, "Scanner execution status: True") {
		t.Errorf("output lacks the success status line")
	}

	got := readResults(t, scanOut, id)
	checkSummary(t, got, id)
	r := got.result
	want := scan.ScanResults{
		GitURL: goodLabels["git-url"], GitSHA: goodLabels["git-sha"], EmailIDs: goodLabels["email-ids"],
		ImageName: name, ServerURL: server,
	}
	if !r.Successful || r.ScanResults != want || r.UUID != id || r.ServerResponse == nil || r.ServerResponse.Status != 200 {
		t.Errorf("result = %+v\nwant success with %+v", r, want)
	}
	regs := rec.registrations(t)
	wantReg := map[string]any{"git-url": goodLabels["git-url"], "git-sha": goodLabels["git-sha"], "email-ids": goodLabels["email-ids"]}
	if len(regs) != 1 || !reflect.DeepEqual(regs[0], wantReg) {
		t.Errorf("registrations = %v, want exactly %v", regs, wantReg)
	}
	if reqs := rec.requests(emulator.EndpointRegister); len(reqs) == 1 && reqs[0].Path != "/api/v1/register" {
		t.Errorf("registration went to %s", reqs[0].Path)
	}
	if n := len(rec.requests(emulator.EndpointScannerError)); n != 0 {
		t.Errorf("%d error reports, want none", n)
	}
	for _, q := range rec.requests("") {
		if got := q.Header.Get("Authorization"); got != "Bearer "+token {
			t.Errorf("%s: Authorization = %q, want the token from atomic's environment", q.Path, got)
		}
	}
	for where, text := range map[string]string{"command line": strings.Join(cmd, " "), "output": out, "result": got.raw, "json": got.rawSum} {
		if strings.Contains(text, token) {
			t.Errorf("the token shows in the %s", where)
		}
	}
}

func TestE2EInstallAndUninstallLabels(t *testing.T) {
	image, d := scannerImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := d.Client.ImageInspect(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	confDir := t.TempDir()

	// runLabel runs a label's command as `atomic install/uninstall` does,
	// with $IMAGE replaced and the host's /etc/atomic.d/ swapped for a
	// temporary directory.
	runLabel := func(label string) {
		t.Helper()
		command := info.Config.Labels[label]
		if command == "" {
			t.Fatalf("image %s has no %s label", image, label)
		}
		fields := strings.Fields(substitute(command, map[string]string{"IMAGE": image}))
		if len(fields) < 2 || fields[0] != "docker" {
			t.Fatalf("%s label %q is not a docker command", label, command)
		}
		swapped := false
		for i := 1; i < len(fields); i++ {
			host, ctr, ok := strings.Cut(fields[i], ":")
			if fields[i-1] == "-v" && ok && strings.TrimSuffix(host, "/") == "/etc/atomic.d" {
				fields[i] = confDir + "/:" + ctr
				swapped = true
			}
		}
		if !swapped {
			t.Fatalf("%s label %q does not mount /etc/atomic.d/", label, command)
		}
		if _, err := dockerCLI(t, nil, fields[1:]...); err != nil {
			t.Fatalf("%s: %v", label, err)
		}
	}

	runLabel("INSTALL")
	if got := atomicscantest.ReadConfig(t, filepath.Join(confDir, "analytics-integration")); !reflect.DeepEqual(got, atomicscantest.WantConfig(image)) {
		t.Errorf("config = %#v\nwant %#v", got, atomicscantest.WantConfig(image))
	}
	fi, err := os.Stat(filepath.Join(confDir, "analytics-integration"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("config mode %v, want 0644", fi.Mode().Perm())
	}

	runLabel("UNINSTALL")
	if _, err := os.Stat(filepath.Join(confDir, "analytics-integration")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("UNINSTALL left the config: %v", err)
	}
	entries, err := os.ReadDir(confDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%s holds %d entries after UNINSTALL, want none", confDir, len(entries))
	}
}
