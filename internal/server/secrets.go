package server

import (
	"net/url"
	"reflect"

	"github.com/centos-pipeline/analytics-scanner/internal/redact"
)

// secrets lists every configured secret: the fields tagged secret:"true"
// and the password of DATABASE_URL. A new credential in Config needs only
// the tag to be scrubbed everywhere; a test refuses a field whose name
// says token, secret or password without it.
func (c *Config) secrets() []string {
	var out []string
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Tag.Get("secret") == "true" && f.Type.Kind() == reflect.String {
			out = append(out, v.Field(i).String())
		}
	}
	if u, err := url.Parse(c.DatabaseURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	}
	return out
}

// scrubber masks every configured secret in what the service writes: its
// log, the records (results, errors) and so the API's answers.
func (c *Config) scrubber() *redact.Scrubber { return redact.New(c.secrets()...) }
