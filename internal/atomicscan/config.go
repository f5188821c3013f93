package atomicscan

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"gopkg.in/yaml.v3"

	"github.com/centos-pipeline/analytics-scanner/internal/safefile"
)

// ScannerName is the scanner's name in atomic (`atomic scan --scanner
// analytics-integration`) and the name of its configuration file, as the
// original's.
const ScannerName = "analytics-integration"

// ConfDir is atomic's scanner configuration directory, relative to the root
// of the host's file system.
const ConfDir = "etc/atomic.d"

// DefaultImage is the scanner image named in the configuration when neither
// --image nor $IMAGE (which `atomic install` sets) says which.
const DefaultImage = "analytics-scanner"

// ScanBinary is where the image keeps the one-shot scanner.
const ScanBinary = "/usr/local/bin/scan"

// SecretEnv lists the variables that carry credentials. The configuration
// passes them as a bare "-e NAME", which makes docker copy the value from
// atomic's environment: "-e NAME=$NAME" would put the secret on docker's
// command line, visible in `ps`, and in the command atomic prints.
var SecretEnv = []string{"ANALYTICS_TOKEN", "ANALYTICS_3SCALE_SECRET"}

// ScannerConfig is a scanner's file in /etc/atomic.d/. atomic reads it with
// a YAML parser and takes the files whose type is "scanner".
type ScannerConfig struct {
	Type        string `yaml:"type"`
	ScannerName string `yaml:"scanner_name"`
	ImageName   string `yaml:"image_name"`
	DefaultScan string `yaml:"default_scan"`
	// CustomArgs go between atomic's own `docker run` arguments and the
	// image. atomic replaces $VARS in them with its environment, and
	// undefined ones with "".
	CustomArgs []string   `yaml:"custom_args"`
	Scans      []ScanType `yaml:"scans"`
}

// ScanType is one scan a scanner offers: atomic runs the image with Args.
type ScanType struct {
	Name        string   `yaml:"name"`
	Args        []string `yaml:"args,flow"`
	Description string   `yaml:"description"`
}

// NewScannerConfig returns the configuration that runs this scanner from
// image.
func NewScannerConfig(image string) ScannerConfig {
	args := []string{
		// The scanner reads labels through the host's daemon.
		"-v", "/var/run/docker.sock:/var/run/docker.sock",
		// The image runs as a non-root user by default, which cannot
		// open the root-owned socket nor write to atomic's root-owned
		// results folder.
		"--user", "0",
		"-e", "IMAGE_NAME=$IMAGE_NAME",
		"-e", "SERVER=$SERVER",
	}
	for _, name := range SecretEnv {
		args = append(args, "-e", name)
	}
	return ScannerConfig{
		Type:        "scanner",
		ScannerName: ScannerName,
		ImageName:   image,
		DefaultScan: "register",
		CustomArgs:  args,
		Scans: []ScanType{{
			Name:        "register",
			Args:        []string{ScanBinary, "register"},
			Description: "Registers the image under test's git-url, git-sha and email-ids labels with the analytics server.",
		}, {
			Name:        "report",
			Args:        []string{ScanBinary, "report"},
			Description: "Asks the analytics server for the report of the image's git-url and git-sha: its dependencies and CVEs.",
		}},
	}
}

// configHeader tells whoever opens the file where it came from.
const configHeader = "# atomic scanner configuration, written by `scan install`; `scan uninstall` removes it.\n" +
	"# Run: IMAGE_NAME=<image> SERVER=<url> atomic scan --scanner " + ScannerName + " <image>\n"

// Marshal encodes c as YAML.
func (c ScannerConfig) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(configHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ConfigPath is the configuration file's path under root, the host's file
// system as mounted in the container ("/" when run on the host).
func ConfigPath(root string) string {
	return filepath.Join(root, ConfDir, ScannerName)
}

// ErrInvalidImage marks an image name the configuration cannot hold.
var ErrInvalidImage = errors.New("invalid image name")

// CheckImage accepts what `atomic install` may pass as $IMAGE: a reference
// or an image id. atomic joins its command with spaces and splits it again,
// so an image name with white space could not survive anyway.
func CheckImage(image string) error {
	if strings.TrimSpace(image) == "" {
		return fmt.Errorf("%w: empty", ErrInvalidImage)
	}
	if _, err := reference.ParseAnyReference(image); err != nil {
		return fmt.Errorf("%w %q: %v", ErrInvalidImage, image, err)
	}
	return nil
}

// Install writes the configuration for image under root, creating the
// directories as needed, and returns the file's path.
func Install(root, image string) (string, error) {
	if err := CheckImage(image); err != nil {
		return "", err
	}
	data, err := NewScannerConfig(image).Marshal()
	if err != nil {
		return "", fmt.Errorf("encode scanner configuration: %w", err)
	}
	p := ConfigPath(root)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(p), err)
	}
	if err := safefile.WriteFile(p, data, 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	return p, nil
}

// Uninstall removes the configuration under root. A configuration that is
// not there is no error: removed says whether there was one.
func Uninstall(root string) (path string, removed bool, err error) {
	p := ConfigPath(root)
	err = os.Remove(p)
	switch {
	case err == nil:
		return p, true, nil
	case errors.Is(err, fs.ErrNotExist):
		return p, false, nil
	}
	return p, false, fmt.Errorf("remove %s: %w", p, err)
}
