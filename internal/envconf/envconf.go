// Package envconf reads a command's configuration from the environment into
// a struct whose `env` tags (go-envconfig's syntax) name the variables and
// their defaults and whose `desc` tags say what they mean, so that one list
// serves loading, error messages and the --help table.
//
// Only a flat struct is described: go-envconfig would also fill nested
// structs, but Vars and PrintTable list top-level fields only.
package envconf

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/sethvargo/go-envconfig"
)

// Var is one field of a configuration struct as the environment sees it.
type Var struct {
	Field   string // Go field name
	Name    string // variable, prefix included
	Default string // "" when none
	Desc    string // the desc tag
}

// Load fills target, a pointer to a struct, from the variables prefix+NAME
// read through getenv. An empty variable counts as unset, so its default
// applies: compose files and Helm charts pass empty values for unset ones.
//
// go-envconfig names the Go field in its errors ("Retention: time: invalid
// duration"); the operator set SCANNER_RETENTION, so Load's errors name the
// variable instead. They still wrap go-envconfig's error for errors.Is.
func Load(ctx context.Context, target any, prefix string, getenv func(string) string) error {
	err := envconfig.ProcessWith(ctx, &envconfig.Config{
		Target: target,
		Lookuper: envconfig.PrefixLookuper(prefix, envconfig.LookuperFunc(func(key string) (string, bool) {
			v := getenv(key)
			return v, v != ""
		})),
	})
	if err == nil {
		return nil
	}
	// An error that names no field (a target that is not a pointer to a
	// struct) is returned as it is; Vars would panic on such a target.
	if t := reflect.TypeOf(target); t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return err
	}
	msg := err.Error()
	for _, v := range Vars(target, prefix) {
		if rest, ok := strings.CutPrefix(msg, v.Field+": "); ok {
			return &varError{name: v.Name, rest: rest, err: err}
		}
	}
	return err
}

// varError is go-envconfig's error with the variable in place of the field.
type varError struct {
	name, rest string
	err        error
}

func (e *varError) Error() string { return e.name + ": " + e.rest }
func (e *varError) Unwrap() error { return e.err }

// Vars lists the fields of target, a struct or a pointer to one, that have
// an env tag, in declaration order. It panics on any other target: that is
// a programming error, found by the first test that prints the help.
func Vars(target any, prefix string) []Var {
	t := reflect.TypeOf(target)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("envconf: %T is not a struct or a pointer to one", target))
	}
	vars := make([]Var, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("env")
		if tag == "" || !f.IsExported() {
			continue // go-envconfig skips such fields too
		}
		name, opts, _ := strings.Cut(tag, ",")
		vars = append(vars, Var{
			Field:   f.Name,
			Name:    prefix + strings.TrimSpace(name),
			Default: defaultOption(opts),
			Desc:    f.Tag.Get("desc"),
		})
	}
	return vars
}

// defaultOption returns the value of the default= option among opts, the
// part of an env tag after the name. As in go-envconfig, the default runs to
// the end of the tag, commas included, so that a list can have one.
func defaultOption(opts string) string {
	for opts != "" {
		opt := strings.TrimLeftFunc(opts, unicode.IsSpace)
		if len(opt) >= len("default=") && strings.EqualFold(opt[:len("default=")], "default=") {
			return opt[len("default="):]
		}
		_, opts, _ = strings.Cut(opts, ",")
	}
	return ""
}

// PrintTable writes a VARIABLE, DEFAULT, MEANING table of target's
// variables, "-" standing for no default: the table a command's --help
// shows under its usage.
func PrintTable(w io.Writer, target any, prefix string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, v := range Vars(target, prefix) {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, def, v.Desc)
	}
	_ = tw.Flush()
}
