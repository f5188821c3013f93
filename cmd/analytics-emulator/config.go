package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/envconf"
)

// envPrefix prefixes every variable: EMULATOR_ADDR, EMULATOR_TOKEN...
const envPrefix = "EMULATOR_"

// config is the emulator's whole configuration, read from the environment.
// Its tags are the one list of names, defaults and meanings: loadConfig
// reads them and --help prints them.
//
// It is read through getenv, as cmd/server's is, so that tests pass their
// own environment to run instead of mutating the process's.
type config struct {
	Addr             string        `env:"ADDR, default=:9000" desc:"listen address"`
	Token            string        `env:"TOKEN" desc:"accept Authorization: Bearer <token>; when this or THREESCALE_SECRET is set, register, report and scanner-error need one of them"`
	ThreeScaleSecret string        `env:"THREESCALE_SECRET" desc:"accept x-3scale-account-secret: <secret>"`
	ReportDelay      time.Duration `env:"REPORT_DELAY, default=0s" desc:"how long after its registration a commit's report answers 404"`
}

// loadConfig reads the configuration through getenv. An empty variable
// counts as unset, as it does for the project's other commands, and every
// error names the variable at fault.
func loadConfig(ctx context.Context, getenv func(string) string) (config, error) {
	var c config
	if err := envconf.Load(ctx, &c, envPrefix, getenv); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if c.ReportDelay < 0 {
		return c, fmt.Errorf("configuration: %sREPORT_DELAY must not be negative", envPrefix)
	}
	return c, nil
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: analytics-emulator [healthcheck [URL]]

Emulates the fabric8 analytics server (register, report, scanner-error,
readiness, liveness, under / and /api/v1/) for local stacks and tests.
GET /received lists what it received; DELETE /received clears that list.

healthcheck GETs URL, by default the /readiness of EMULATOR_ADDR on
127.0.0.1, and exits 0 if it answers 200.

`)
	printConfigTable(w)
}

// printConfigTable writes every variable with its default and meaning.
func printConfigTable(w io.Writer) { envconf.PrintTable(w, config{}, envPrefix) }
