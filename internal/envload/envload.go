// Package envload is the commands' few lines of glue around
// kelseyhightower/envconfig: an empty variable counts as unset, errors name
// the variable, and the --help table has one line per variable.
package envload

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"
)

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

// PrintTable writes every variable of spec with its default ("-" for none)
// and meaning, from the envconfig, default and desc tags, the names as
// envconfig.Process reads them. It walks the struct itself rather than
// calling envconfig.Usagef: that one executes a text/template, and a binary
// that executes templates keeps every exported method of every type it links
// (the linker cannot tell which one a template calls by name), which made the
// image several MB larger (issue 13).
func PrintTable(w io.Writer, prefix string, spec any) error {
	v := reflect.ValueOf(spec)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return envconfig.ErrInvalidSpecification
	}
	table := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	fmt.Fprintln(table, "VARIABLE\tDEFAULT\tMEANING")
	if err := printVars(table, prefix, v.Elem().Type()); err != nil {
		return err
	}
	return table.Flush()
}

// printVars writes the variables of struct type t. It names them as
// envconfig does: the envconfig tag, else the field name, upper-cased after
// prefix_; a struct field's own fields follow its name, an embedded one's
// the same prefix. split_words is refused rather than spelled differently
// from what Process reads: no spec uses it.
func printVars(w io.Writer, prefix string, t reflect.Type) error {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || isTrue(f.Tag.Get("ignored")) {
			continue
		}
		if isTrue(f.Tag.Get("split_words")) {
			return fmt.Errorf("envload: field %s: split_words is not supported", f.Name)
		}
		key := f.Name
		if alt := f.Tag.Get("envconfig"); alt != "" {
			key = alt
		}
		if prefix != "" {
			key = prefix + "_" + key
		}
		key = strings.ToUpper(key)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !decodesItself(ft) {
			inner := key
			if f.Anonymous {
				inner = prefix
			}
			if err := printVars(w, inner, ft); err != nil {
				return err
			}
			continue
		}
		def := f.Tag.Get("default")
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", key, def, f.Tag.Get("desc"))
	}
	return nil
}

// decodesItself tells a struct that envconfig fills from one variable (it
// decodes itself, as time.Time does) from one whose fields are variables.
func decodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(reflect.TypeFor[envconfig.Decoder]()) ||
		p.Implements(reflect.TypeFor[envconfig.Setter]()) ||
		p.Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) ||
		p.Implements(reflect.TypeFor[encoding.BinaryUnmarshaler]())
}

// isTrue reads a boolean tag as envconfig does.
func isTrue(s string) bool {
	b, _ := strconv.ParseBool(s)
	return b
}
