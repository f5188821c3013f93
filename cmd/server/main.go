// Command server is the scan-request REST service: POST /scan queues a scan
// of an image on a durable queue, workers inspect the image on the Docker
// daemon and register its labels with the analytics server, and every
// result is stored and served. See the README and openapi.yaml; the
// program is internal/server.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/centos-pipeline/analytics-scanner/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is server.Main.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return server.Main(ctx, args, stdout, stderr)
}
