package config

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// ServeFile is serve's configuration file; the racklift-provision package installs an
// example.
const ServeFile = "/etc/racklift/serve.yaml"

// Serve applies the environment and file to serve's flags (its own and the inherited
// global ones: --inventory, --state-dir, --secrets, --api). When no source gave
// --state-dir and systemd set STATE_DIRECTORY (StateDirectory=racklift), the state goes
// there: /var/lib/racklift when installed, not .state in the working directory.
func Serve(flags *pflag.FlagSet, file string, named bool, getenv func(string) string) (Source, error) {
	if env := getenv(EnvName("config")); env != "" && !named {
		file, named = env, true
	}
	src, err := Apply(flags, file, named, getenv)
	if err != nil {
		return nil, err
	}
	if sd := getenv("STATE_DIRECTORY"); sd != "" {
		if f := flags.Lookup("state-dir"); f != nil && !f.Changed && src[f.Name] == "" {
			dir, _, _ := strings.Cut(sd, ":") // systemd lists one path per StateDirectory=
			if err := flags.Set(f.Name, dir); err != nil {
				return nil, err
			}
			src[f.Name] = "STATE_DIRECTORY"
		}
	}
	return src, nil
}

// String lists flag=source pairs in name order, for one log line.
func (s Source) String() string {
	var out []string
	for k, v := range s {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// LogLevel parses --log-level.
func LogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// RunNotify runs run until it returns and tells systemd READY=1 (notify) once ready
// returns, i.e. when the listeners are up. A failed notification is logged, not fatal:
// systemd then times the start out and says so itself.
func RunNotify(ctx context.Context, run func(context.Context) error, ready func(), notify func(string) error, log *slog.Logger) error {
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	readyc := make(chan struct{})
	go func() { ready(); close(readyc) }() // ready blocks for ever if run fails first; the process then exits
	select {
	case err := <-done:
		return err
	case <-readyc:
		if err := notify("READY=1"); err != nil {
			log.Warn("could not tell systemd serve is ready", "err", err, "socket", os.Getenv("NOTIFY_SOCKET"))
		}
	}
	err := <-done
	_ = notify("STOPPING=1")
	return err
}
