package testenv

import (
	"context"
	"os"
	"testing"
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

func TestPostgresURLAnswers(t *testing.T) {
	u := PostgresURL(t)
	if u != os.Getenv(PostgresURLEnv) {
		t.Errorf("PostgresURL = %q, want the environment's", u)
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
