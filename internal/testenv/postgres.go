package testenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// cluster is the throwaway PostgreSQL a package's tests started: at most
// one per package run, started by the first test that needs it and stopped
// by Main.
var cluster struct {
	once sync.Once
	url  string
	err  error
	stop func()
}

// startedPostgres returns the URL of the package's own cluster, starting
// it on first use. It starts one only under Main, which stops it.
func startedPostgres() (string, error) {
	if !mainRuns.Load() {
		return "", fmt.Errorf("%s is not set (and this package's TestMain is not testenv.Main, which would start an installed PostgreSQL)", PostgresURLEnv)
	}
	cluster.once.Do(func() {
		cluster.url, cluster.stop, cluster.err = StartPostgres()
	})
	return cluster.url, cluster.err
}

func stopPostgres() {
	if cluster.stop != nil {
		cluster.stop()
	}
}

// postgresBin is the bin directory of the newest PostgreSQL installed the
// Debian way (/usr/lib/postgresql/N/bin), or SCANNER_PG_BIN.
func postgresBin() (string, error) {
	if dir := os.Getenv("SCANNER_PG_BIN"); dir != "" {
		return dir, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(found, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return vb - va
	})
	if len(found) == 0 {
		return "", fmt.Errorf("%s is not set and no PostgreSQL is installed (/usr/lib/postgresql/*/bin)", PostgresURLEnv)
	}
	return filepath.Dir(found[0]), nil
}

// StartPostgres starts a throwaway PostgreSQL cluster from the installed
// binaries: in a temporary directory, on a free loopback port, trusting
// loopback connections, tuned for speed over durability. It returns its
// URL and a stop that shuts it down and deletes its files. As root it runs
// the server as the postgres user: initdb refuses to run as root.
func StartPostgres() (url string, stop func(), err error) {
	bin, err := postgresBin()
	if err != nil {
		return "", nil, err
	}
	var cred *syscall.Credential
	dir, err := os.MkdirTemp("", "analytics-scanner-testpg-")
	if err != nil {
		return "", nil, err
	}
	removeDir := func() { _ = os.RemoveAll(dir) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			removeDir()
			return "", nil, fmt.Errorf("PostgreSQL cannot run as root and there is no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			removeDir()
			return "", nil, err
		}
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		return cmd
	}
	data := filepath.Join(dir, "data")
	if out, err := command("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		removeDir()
		return "", nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		removeDir()
		return "", nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		removeDir()
		return "", nil, err
	}
	server := command("postgres", "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB")
	server.Stdout, server.Stderr = logFile, logFile
	// Killed with the test binary, should it die without stopping it: the
	// signal goes when the thread that started it ends, so that thread is
	// kept for the server's life.
	server.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started, exited := make(chan error, 1), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if err := server.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = server.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		_ = logFile.Close()
		removeDir()
		return "", nil, fmt.Errorf("start postgres: %w", err)
	}
	stop = func() {
		// SIGINT is the fast shutdown: open sessions are ended.
		_ = server.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = server.Process.Kill()
			<-exited
		}
		_ = logFile.Close()
		removeDir()
	}
	url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("pgx", url)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = db.PingContext(ctx)
			cancel()
			_ = db.Close()
		}
		if err == nil {
			return url, stop, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			stop()
			return "", nil, fmt.Errorf("postgres exited at start: %s", log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("postgres did not answer within 30 s")
		}
	}
}

// freePort is a loopback port nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
