// Package envload is the commands' few lines of glue around
// kelseyhightower/envconfig: an empty variable counts as unset, errors name
// the variable, and the --help table has one line per variable.
package envload

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"
)

// tableFormat is the --help table: variable, default ("-" for none),
// meaning, from the envconfig, default and desc tags.
const tableFormat = "VARIABLE\tDEFAULT\tMEANING\n" +
	"{{range .}}{{usage_key .}}\t{{with usage_default .}}{{.}}{{else}}-{{end}}\t{{usage_description .}}\n{{end}}"

// Process fills spec from the variables prefix_NAME. An empty variable
// counts as unset, so that its default applies: compose files and Helm
// charts pass empty values for unset ones (envconfig would parse "" as a
// number or duration and fail), so the process's empty ones are unset
// first. An error names the variable, not the Go field.
func Process(prefix string, spec any) error {
	for _, kv := range os.Environ() {
		if name, value, _ := strings.Cut(kv, "="); strings.HasPrefix(name, prefix+"_") && value == "" {
			_ = os.Unsetenv(name)
		}
	}
	err := envconfig.Process(prefix, spec)
	if pe := (*envconfig.ParseError)(nil); errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.KeyName, pe.Err)
	}
	return err
}

// PrintTable writes every variable of spec with its default and meaning.
func PrintTable(w io.Writer, prefix string, spec any) error {
	table := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	if err := envconfig.Usagef(prefix, spec, table, tableFormat); err != nil {
		return err
	}
	return table.Flush()
}
