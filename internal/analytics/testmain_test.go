package analytics

import (
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// TestMain stops the PostgreSQL the tests started, if any, and names the
// tests skipped for a missing dependency.
func TestMain(m *testing.M) { testenv.Main(m) }
