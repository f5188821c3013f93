package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The second daemon's bridge: a bridge of its own, because a daemon given
// --bridge=none deletes the host's docker0 and breaks the first daemon
// (see local-docker.md). The subnet is one no other test here uses.
const (
	chaosBridge     = "br-chaos"
	chaosBridgeAddr = "172.29.213.1/24"
)

// dockerd is a second Docker daemon the harness starts, stops and starts
// again, on its own data root, exec root, socket and bridge.
type dockerd struct {
	bin, dataRoot, execRoot, sock, pidfile, config, logPath string

	cmd    *exec.Cmd
	exited chan struct{}
}

func (d *dockerd) host() string { return "unix://" + d.sock }

// setupBridge creates the bridge, replacing one a killed run left behind.
func setupBridge(ctx context.Context, cl *cleanups) error {
	ip := func(args ...string) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	_ = ip("link", "del", chaosBridge)
	if err := ip("link", "add", chaosBridge, "type", "bridge"); err != nil {
		return err
	}
	cl.add("delete bridge "+chaosBridge, func() error {
		out, err := exec.Command("ip", "link", "del", chaosBridge).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
	if err := ip("addr", "add", chaosBridgeAddr, "dev", chaosBridge); err != nil {
		return err
	}
	return ip("link", "set", chaosBridge, "up")
}

func newDockerd(bin, dir string) (*dockerd, error) {
	// A unix socket path is limited to 107 bytes; the temp dir may be deep.
	sockDir, err := os.MkdirTemp("", "chaos-d")
	if err != nil {
		return nil, err
	}
	d := &dockerd{
		bin:      bin,
		dataRoot: filepath.Join(dir, "data-root"),
		execRoot: filepath.Join(sockDir, "exec"),
		sock:     filepath.Join(sockDir, "docker.sock"),
		pidfile:  filepath.Join(sockDir, "docker.pid"),
		config:   filepath.Join(dir, "daemon.json"),
		logPath:  filepath.Join(dir, "dockerd.log"),
	}
	// Its own empty configuration, so that the host's daemon.json (hosts,
	// bridge, data root) cannot apply to it.
	return d, os.WriteFile(d.config, []byte("{}\n"), 0o600)
}

// start starts the daemon and waits until it answers.
func (d *dockerd) start(ctx context.Context) error {
	logFile, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	d.cmd = exec.Command(d.bin,
		"--config-file", d.config,
		"--data-root", d.dataRoot,
		"--exec-root", d.execRoot,
		"--pidfile", d.pidfile,
		"-H", d.host(),
		"--bridge="+chaosBridge,
		"--iptables=false",
		"--ip-masq=false",
		"--storage-driver", "vfs",
	)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start dockerd: %w", err)
	}
	exited := make(chan struct{})
	d.exited = exited
	go func() {
		_ = d.cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, err := dockerCLI(ctx, d.host(), 5*time.Second, nil, "version", "--format", "{{.Server.Version}}")
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the second dockerd exited at start (log: %s): %s", d.logPath, lastLines(readFile(d.logPath), 5))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the second dockerd did not answer within 90 s: %w", err)
		}
	}
}

// stop stops the daemon: SIGTERM, then SIGKILL after 30 s.
func (d *dockerd) stop() error {
	if d.cmd == nil {
		return nil
	}
	select {
	case <-d.exited:
		return nil
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.exited:
		return errors.New("the second dockerd needed SIGKILL")
	case <-time.After(10 * time.Second):
		return errors.New("the second dockerd survived SIGKILL")
	}
}

// remove deletes its directories once it is stopped.
func (d *dockerd) remove() error {
	return errors.Join(os.RemoveAll(filepath.Dir(d.sock)), os.RemoveAll(d.dataRoot))
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
