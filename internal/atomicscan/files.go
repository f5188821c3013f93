// Package atomicscan holds what the one-shot scanner shares with Project Atomic's
// `atomic scan` and `atomic install`: the folders atomic mounts images at, the
// result files it reads back (the scan.Result document and the `json` summary
// of atomic's scan specification) and the scanner configuration that
// `atomic install` puts in /etc/atomic.d/.
//
// Every file is written atomically (a temporary file renamed over the target)
// so that a crash or a full disk never leaves half a result for atomic, or a
// pipeline, to read.
package atomicscan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Where `atomic scan` mounts the images and containers to scan (one folder
// per id) and where it collects the results.
const (
	DefaultScanIn  = "/scanin"
	DefaultScanOut = "/scanout"
)

// UnknownImageFolder is the result folder of a scan that had no image to
// scan at all: no IMAGE_NAME and no folder under the scan-in directory.
const UnknownImageFolder = "unknown-image"

// maxFolderBytes bounds a folder name made from an image name: file systems
// refuse names over 255 bytes, and image names can be longer.
const maxFolderBytes = 128

// Input is one image or container that atomic mounted for a scan.
type Input struct {
	// Folder is the folder's name under the scan-in directory; results go
	// to the folder of the same name under the scan-out directory, which
	// is how atomic matches them to what it asked for.
	Folder string
	// Ref is the image or container id to inspect: Folder without the
	// "sha256-" prefix some atomic versions keep (they replace the id's
	// ':' with '-').
	Ref string
}

// ScanInputs lists the folders under dir, in name order. A missing dir is no
// error: the scanner was run outside atomic and scans IMAGE_NAME instead.
// Files and hidden entries are not images and are skipped.
func ScanInputs(dir string) ([]Input, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read scan-in directory: %w", err)
	}
	var inputs []Input
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !isDir(dir, e) {
			continue
		}
		ref := name
		for _, prefix := range []string{"sha256-", "sha256:"} {
			ref = strings.TrimPrefix(ref, prefix)
		}
		inputs = append(inputs, Input{Folder: name, Ref: ref})
	}
	return inputs, nil
}

// isDir follows a symbolic link, since a mount point may be reached through
// one.
func isDir(dir string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, e.Name()))
	return err == nil && fi.IsDir()
}

// FolderName turns an image name into a result folder name: characters other
// than letters, digits, '.', '_' and '-' become '_', so that
// "registry:5000/team/app:1.0" gives "registry_5000_team_app_1.0". An empty
// name gives UnknownImageFolder.
func FolderName(image string) string {
	var b strings.Builder
	for _, c := range strings.TrimSpace(image) {
		if b.Len() >= maxFolderBytes {
			break
		}
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	// "." and ".." would name the scan-out directory or its parent, and a
	// leading dot would hide the results.
	if strings.Trim(name, ".") == "" {
		return UnknownImageFolder
	}
	if name[0] == '.' {
		name = "_" + name[1:]
	}
	return name
}
