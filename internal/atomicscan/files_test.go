package atomicscan

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestScanInputs(t *testing.T) {
	id1 := strings.Repeat("a", 64)
	id2 := strings.Repeat("b", 64)
	id3 := strings.Repeat("c", 64)

	t.Run("missing directory means no inputs", func(t *testing.T) {
		got, err := ScanInputs(filepath.Join(t.TempDir(), "absent"))
		if err != nil || got != nil {
			t.Fatalf("ScanInputs(absent) = %v, %v; want nil, nil", got, err)
		}
	})

	t.Run("folders in name order, files and hidden entries skipped", func(t *testing.T) {
		dir := t.TempDir()
		for _, name := range []string{id2, id1, "sha256-" + id3, ".hidden"} {
			if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "not-an-image"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		// A mount point reached through a link still counts.
		target := t.TempDir()
		if err := os.Symlink(target, filepath.Join(dir, "linked")); err != nil {
			t.Fatal(err)
		}
		got, err := ScanInputs(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := []Input{
			{Folder: id1, Ref: id1},
			{Folder: id2, Ref: id2},
			{Folder: "linked", Ref: "linked"},
			{Folder: "sha256-" + id3, Ref: id3},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ScanInputs = %+v\nwant %+v", got, want)
		}
	})

	t.Run("a file where the directory should be is an error", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ScanInputs(f); err == nil {
			t.Error("ScanInputs(file) succeeded, want an error")
		}
	})
}

func TestFolderName(t *testing.T) {
	tests := []struct {
		image, want string
	}{
		{"nshaikh/test_label", "nshaikh_test_label"},
		{"registry:5000/team/app:1.0", "registry_5000_team_app_1.0"},
		{"app@sha256:abc", "app_sha256_abc"},
		{"  padded  ", "padded"},
		{"", UnknownImageFolder},
		{"   ", UnknownImageFolder},
		{".", UnknownImageFolder},
		{"..", UnknownImageFolder},
		{"../../etc/passwd", "_._.._etc_passwd"},
		{".hidden", "_hidden"},
		{"ünïcode", "_n_code"},
		{strings.Repeat("x", 300), strings.Repeat("x", maxFolderBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			got := FolderName(tt.image)
			if got != tt.want {
				t.Errorf("FolderName(%q) = %q, want %q", tt.image, got, tt.want)
			}
			if strings.ContainsAny(got, `/\`) || got == "." || got == ".." {
				t.Errorf("FolderName(%q) = %q is not a plain folder name", tt.image, got)
			}
		})
	}
}
