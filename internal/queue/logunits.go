package queue

import (
	"context"
	"log/slog"
)

// msDurations is a slog.Handler that logs each time.Duration attribute as
// KEY_ms, a number of milliseconds: River logs durations under bare names
// ("sleep_duration": 1500), and a number without its unit is a guess for
// whoever reads the log.
type msDurations struct{ next slog.Handler }

func (h msDurations) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h msDurations) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(withUnit(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h msDurations) WithAttrs(attrs []slog.Attr) slog.Handler {
	converted := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		converted[i] = withUnit(a)
	}
	return msDurations{h.next.WithAttrs(converted)}
}

func (h msDurations) WithGroup(name string) slog.Handler { return msDurations{h.next.WithGroup(name)} }

// withUnit renames a duration attribute and gives its value in
// milliseconds, also inside groups; others pass unchanged.
func withUnit(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindDuration:
		return slog.Float64(a.Key+"_ms", float64(v.Duration().Microseconds())/1000)
	case slog.KindGroup:
		group := v.Group()
		converted := make([]any, len(group))
		for i, g := range group {
			converted[i] = withUnit(g)
		}
		return slog.Group(a.Key, converted...)
	}
	return slog.Attr{Key: a.Key, Value: v}
}
