// Package probe is the health check the project's images run on themselves:
// they have no shell or curl, so each command has a `healthcheck`
// subcommand that GETs its own health endpoint through this package.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// LocalURL is the http URL of path on a server listening on addr, as seen
// from the same host or container: an address with no host, or an
// unspecified one (0.0.0.0, ::), is reached on 127.0.0.1, where a server
// listening on all interfaces answers too. path starts with "/".
//
// An address without a fixed port (":0", ":") is refused: the server's real
// port cannot be known from it.
func LocalURL(addr, path string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port == "" || port == "0" {
		return "", errors.New("no fixed port to check")
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: path}).String(), nil
}

// Get GETs rawURL and returns nil if it answers 200 OK. timeout, when
// positive, bounds the whole request, so that a hung server fails its
// health check instead of hanging it; ctx bounds it in any case. Redirects
// are followed as by http.DefaultClient.
func Get(ctx context.Context, rawURL string, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", rawURL, resp.Status)
	}
	return nil
}
