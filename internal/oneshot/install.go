package oneshot

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/centos-pipeline/analytics-scanner/internal/atomicscan"
)

func runInstall(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	const cmd = "scan install"
	image := envValue(getenv, "IMAGE")
	if image == "" {
		image = atomicscan.DefaultImage
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	root := fs.String("root", "/", "")
	fs.StringVar(&image, "image", image, "")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stdout, installUsage, atomicscan.DefaultImage)
		return exitOK
	case err != nil:
		return usageError(stderr, cmd, err)
	case fs.NArg() > 0:
		return usageError(stderr, cmd, fmt.Errorf("unexpected arguments %q", fs.Args()))
	case strings.TrimSpace(*root) == "":
		return usageError(stderr, cmd, errors.New("--root must not be empty"))
	}
	image = strings.TrimSpace(image)
	if err := atomicscan.CheckImage(image); err != nil {
		return usageError(stderr, cmd, fmt.Errorf("--image: %w", err))
	}
	path, err := atomicscan.Install(*root, image)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return exitWrite
	}
	fmt.Fprintf(stdout, "Installed scanner %s (image %s) in %s.\n", atomicscan.ScannerName, image, path)
	return exitOK
}

func runUninstall(args []string, stdout, stderr io.Writer) int {
	const cmd = "scan uninstall"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	root := fs.String("root", "/", "")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, uninstallUsage)
		return exitOK
	case err != nil:
		return usageError(stderr, cmd, err)
	case fs.NArg() > 0:
		return usageError(stderr, cmd, fmt.Errorf("unexpected arguments %q", fs.Args()))
	case strings.TrimSpace(*root) == "":
		return usageError(stderr, cmd, errors.New("--root must not be empty"))
	}
	path, removed, err := atomicscan.Uninstall(*root)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return exitWrite
	case removed:
		fmt.Fprintf(stdout, "Removed %s.\n", path)
	default:
		fmt.Fprintf(stdout, "Nothing to remove: %s does not exist.\n", path)
	}
	return exitOK
}
