// Command analytics-scanner is the image's one binary: scan, server and
// analytics-emulator in one multi-call program, chosen by the name it is
// run as (the image links /usr/local/bin/scan, server and
// analytics-emulator to it) or by its first argument:
//
//	scan ...                          the one-shot atomic scanner (internal/oneshot)
//	server ...                        the REST service (internal/server)
//	analytics-emulator ...            the emulated analytics server (internal/emulator)
//	analytics-scanner scan|server|analytics-emulator ...
//
// One binary instead of three, because the three share most of their code
// (the Docker client, the registry reader, the analytics client): three
// static copies made the image twice its size. cmd/scan, cmd/server and
// cmd/analytics-emulator still build each program alone.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/oneshot"
	"github.com/centos-pipeline/analytics-scanner/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// programs are the commands this binary is, by name.
var programs = []string{"scan", "server", "analytics-emulator"}

// run picks the program by the name in args[0], else by args[1], and runs
// it with the rest of the arguments.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	name := ""
	if len(args) > 0 {
		name = filepath.Base(args[0])
	}
	if !isProgram(name) {
		if len(args) < 2 || !isProgram(args[1]) {
			fmt.Fprintf(stderr, "analytics-scanner: usage: analytics-scanner %s [ARGS...], or run it as one of those names\n",
				strings.Join(programs, "|"))
			return 2
		}
		name, args = args[1], args[1:]
	}
	switch name {
	case "scan":
		return oneshot.Run(ctx, args[1:], getenv, stdout, stderr)
	case "server":
		return server.Main(ctx, args[1:], stdout, stderr)
	default:
		if err := emulator.Main(ctx, append([]string{name}, args[1:]...), stdout, stderr); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return 1
		}
		return 0
	}
}

func isProgram(name string) bool { return slices.Contains(programs, name) }
