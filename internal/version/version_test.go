package version

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStringAndShort(t *testing.T) {
	i := Info{Module: "(devel)", Revision: "0123456789ab", Modified: true, GoVersion: "go1.26.8"}
	if got, want := i.String(), "(devel) rev 0123456789ab+dirty go1.26.8"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := i.Short(); got != "0123456789ab" {
		t.Errorf("Short() of a devel build = %q, want the revision", got)
	}
	i.Module = "v1.2.0"
	if got := i.Short(); got != "v1.2.0" {
		t.Errorf("Short() of a tagged build = %q, want v1.2.0", got)
	}
}

func TestGetKnowsTheToolchain(t *testing.T) {
	if Get().GoVersion == "" {
		t.Fatal("Get().GoVersion is empty: the build info was not read")
	}
}

// TestRevisionFromLinkerFlag builds a tiny program the way the image does,
// without VCS information, and checks that the -X revision is what it shows.
func TestRevisionFromLinkerFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: builds a program")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin,
		"-ldflags", "-X github.com/centos-pipeline/analytics-scanner/internal/version.Revision=feedfacecafebeef0123",
		"./testdata/prog")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "rev feedfacecafe ") {
		t.Fatalf("program printed %q, want the linker-flag revision shortened to 12", out)
	}
}
