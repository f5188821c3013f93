package testenv

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"
)

func TestRandomHex(t *testing.T) {
	a, b := RandomHex(8), RandomHex(8)
	if len(a) != 16 || a == b {
		t.Errorf("RandomHex(8) gave %q and %q, want two different 16-digit strings", a, b)
	}
}

func TestRequireSkipsUnderShort(t *testing.T) {
	if !testing.Short() {
		t.Skip("checks -short's behaviour; run with -short")
	}
	ran := false
	t.Run("dependency present", func(t *testing.T) {
		Require(t, "something", nil)
		ran = true
	})
	if ran {
		t.Error("Require let a test of a real dependency run under -short")
	}
}

func TestDockerAnswers(t *testing.T) {
	c := Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		t.Errorf("the client Docker returned does not reach the daemon: %v", err)
	}
}

func TestMain(m *testing.M) { Main(m) }

func TestPostgresURLAnswers(t *testing.T) {
	u := PostgresURL(t)
	if env := os.Getenv(PostgresURLEnv); env != "" && u != env {
		t.Errorf("PostgresURL = %q, want the environment's", u)
	}
	if os.Getenv(PostgresURLEnv) == "" && u != cluster.url {
		t.Errorf("PostgresURL = %q, want the package's own cluster's %q", u, cluster.url)
	}
	// Once per package run: a second call is the same cluster.
	if again := PostgresURL(t); again != u {
		t.Errorf("PostgresURL again = %q, want %q", again, u)
	}
}

// A cluster of the installed binaries answers, takes a table, and is gone
// with its files once stopped.
func TestStartPostgres(t *testing.T) {
	Require(t, "PostgreSQL's binaries", nil)
	if _, err := postgresBin(); err != nil {
		RequireDependency(t, "PostgreSQL's binaries", err)
	}
	u, stop, err := StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE t (id int)`)
	var dir string
	_ = db.QueryRow(`SHOW data_directory`).Scan(&dir)
	_ = db.Close()
	stop()
	if err != nil {
		t.Errorf("create a table: %v", err)
	}
	if dir == "" {
		t.Fatal("the cluster did not say where its data is")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the cluster's files %s outlived stop: %v", dir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if db, err := sql.Open("pgx", u); err == nil {
		if db.PingContext(ctx) == nil {
			t.Errorf("the cluster still answers after stop")
		}
		_ = db.Close()
	}
}

// By hand, a PostgreSQL that is not set or not listening is a skip, never a
// pass of the test that needed it.
func TestPostgresURLSkipsWithoutAServerByHand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short skips before any check")
	}
	t.Setenv("CI", "")
	for name, u := range map[string]string{
		"not set":       "",
		"not listening": "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(PostgresURLEnv, u)
			// As in a package without testenv.Main: no cluster of its own.
			defer mainRuns.Store(mainRuns.Swap(false))
			reached := false
			t.Run("needs PostgreSQL", func(t *testing.T) {
				PostgresURL(t)
				reached = true
			})
			if reached {
				t.Error("a test went on without PostgreSQL")
			}
		})
	}
}
