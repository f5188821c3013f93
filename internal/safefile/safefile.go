// Package safefile writes files so that readers see the old content or the
// new, never a part: a temporary file in the same directory, synced, then
// renamed over the target.
package safefile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes data to path atomically: readers see the old file or the
// new one, never a part. The temporary file lives in the same directory,
// hidden, so that the rename cannot cross file systems.
func WriteFile(path string, data []byte, perm fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; results and configs are read by
	// other users (atomic, a pipeline's agent).
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	// Without the sync a crash right after the rename could leave an empty
	// file under the final name.
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable; not every file system can sync a
	// directory, and the file is complete either way.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
