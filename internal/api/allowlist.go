package api

import (
	"fmt"
	"strings"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
)

// AllowList is the analytics servers a request may name in "server": the
// one place that says what an entry may be and how a request's server is
// matched. The zero value allows none.
type AllowList struct {
	// byKey maps each entry's comparison form to the entry as parsed,
	// which is what the service receives and records show.
	byKey map[string]string
}

// ParseAllowList checks the operator's entries (blank ones are skipped):
// each must be an http(s) URL without a user name or password, since the
// entry is shown in scan records and logs.
func ParseAllowList(entries []string) (AllowList, error) {
	l := AllowList{byKey: map[string]string{}}
	for _, raw := range entries {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		u, err := analytics.ParseServerURL(raw)
		if err != nil {
			return AllowList{}, err
		}
		if u.User != nil {
			return AllowList{}, fmt.Errorf("the entry for host %q holds a user name or password; "+
				"entries are shown in scan records and logs, so credentials go in the token or 3scale secret settings", u.Host)
		}
		key, _ := serverKey(raw) // parsed above
		l.byKey[key] = u.String()
	}
	return l, nil
}

// MustAllowList is ParseAllowList for entries known to be valid.
func MustAllowList(entries ...string) AllowList {
	l, err := ParseAllowList(entries)
	if err != nil {
		panic(err)
	}
	return l
}

// Lookup returns the entry a request's server matches, if any.
func (l AllowList) Lookup(raw string) (string, bool) {
	key, err := serverKey(raw)
	if err != nil {
		return "", false
	}
	entry, ok := l.byKey[key]
	return entry, ok
}

// serverKey is the form in which servers are compared: parsed as the
// analytics client parses them, host lower-cased, trailing slashes dropped.
func serverKey(raw string) (string, error) {
	u, err := analytics.ParseServerURL(raw)
	if err != nil {
		return "", err
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}
