package cli

import (
	"io"
	"log/slog"
)

// SetLogLevel makes the default logger write to stderr at level (--log-level): debug,
// info, warn or error.
func SetLogLevel(level string, stderr io.Writer) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return Usagef("--log-level %q: want debug, info, warn or error", level)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l})))
	return nil
}
