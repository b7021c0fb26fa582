package bmc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	bmclib "github.com/bmc-toolbox/bmclib/v2"
	"github.com/bmc-toolbox/bmclib/v2/providers/ipmitool"
	"github.com/bmc-toolbox/bmclib/v2/providers/redfish"
	"github.com/go-logr/logr"
	"github.com/jacobweinstock/registrar"
)

// Options tune every operation.
type Options struct {
	// Timeout is the deadline of one operation on one BMC, retries included.
	Timeout time.Duration
	// Warn receives the one-time insecure TLS warning (nil: stderr).
	Warn io.Writer
	// IpmitoolPath overrides the ipmitool found on PATH.
	IpmitoolPath string
	// Backoff is the first wait before retrying a BMC answering 503 or refusing
	// connections; it doubles up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// OnRetry, when set, is called before each retry with the attempt that failed and
	// its error: tests act on the retry itself (end a refusal once it was seen) instead
	// of guessing how long the first attempt takes.
	OnRetry func(attempt int, err error)
	// Observe, if set, is told the end of every Do: the operation's name (Op.Name) and
	// "ok" or the failure's Kind; serve counts them in racklift_bmc_calls_total.
	Observe func(op, result string)
}

// DefaultTimeout is the per-BMC deadline when none is given.
const DefaultTimeout = 60 * time.Second

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Warn == nil {
		o.Warn = os.Stderr
	}
	if o.Backoff <= 0 {
		o.Backoff = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	return o
}

var noDumps sync.Once

// Client is an open connection (a Redfish session, or ipmitool ready to run) to one BMC.
type Client struct {
	t  Target
	bc *bmclib.Client
	o  Options
	// Redfish only: the HTTP client bmclib uses, its connections and the trail
	// of what the BMC answered.
	hc *http.Client
	ct *connTracker
	tr *trail
}

// open connects to the BMC with the one bmclib provider its protocol needs, registered
// here rather than letting bmclib build and probe all of them (minutes on BMCs that do
// not answer some).
func open(ctx context.Context, t Target, o Options, tr *trail) (*Client, error) {
	// bmclib dumps every HTTP exchange, session login body included, to stdout when
	// DEBUG_BMCLIB=true: that would print the password.
	noDumps.Do(func() { os.Unsetenv("DEBUG_BMCLIB") })
	log := logr.Discard() // bmclib logs can carry request dumps and command lines
	reg := registrar.NewRegistry(registrar.WithLogger(log))
	c := &Client{t: t, o: o, tr: tr}
	switch t.Protocol {
	case "ipmi":
		opts := []ipmitool.Option{ipmitool.WithLogger(log), ipmitool.WithPort(strconv.Itoa(t.Port))}
		if o.IpmitoolPath != "" {
			opts = append(opts, ipmitool.WithIpmitoolPath(o.IpmitoolPath))
		} else if _, err := exec.LookPath("ipmitool"); err != nil {
			return nil, fmt.Errorf("ipmitool is not installed (apt-get install ipmitool): it is how racklift speaks IPMI")
		}
		drv, err := ipmitool.New(t.Host, t.Login.Username, t.Login.Password, opts...)
		if err != nil {
			return nil, err
		}
		reg.Register(ipmitool.ProviderName, ipmitool.ProviderProtocol, ipmitool.Features, nil, drv)
	default:
		tcfg, err := tlsConfig(t, o.Warn)
		if err != nil {
			return nil, err
		}
		c.hc, c.ct = httpClient(ctx, tcfg, &quirks{login: t.Login, tr: tr})
		drv := redfish.New(t.Host, t.Login.Username, t.Login.Password, log,
			redfish.WithHttpClient(c.hc), redfish.WithPort(strconv.Itoa(t.Port)))
		reg.Register(redfish.ProviderName, redfish.ProviderProtocol, redfish.Features, nil, drv)
	}
	bc := bmclib.NewClient(t.Host, t.Login.Username, t.Login.Password,
		bmclib.WithLogger(log), bmclib.WithRegistry(reg),
		bmclib.WithPerProviderTimeout(time.Until(deadlineOf(ctx))))
	if err := bc.Open(ctx); err != nil {
		return nil, err
	}
	c.bc = bc
	return c, nil
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(DefaultTimeout)
}

// logoutGrace is how long a logout may take after the operation's deadline.
const logoutGrace = 2 * time.Second

// close ends the session, even after the deadline (then within logoutGrace).
func (c *Client) close(opCtx context.Context) {
	if c.ct != nil && opCtx.Err() != nil {
		defer c.ct.grace(logoutGrace)()
	}
	ctx, cancel := context.WithTimeout(context.Background(), logoutGrace)
	defer cancel()
	_ = c.bc.Close(ctx)
}

// powerState is "on" or "off" (or what the BMC said, lower case, if neither).
func (c *Client) powerState(ctx context.Context) (string, error) {
	s, err := c.bc.GetPowerState(ctx)
	if err != nil {
		return "", err
	}
	return normalizePower(s), nil
}

func normalizePower(s string) string {
	l := strings.ToLower(strings.TrimSpace(s))
	switch {
	case l == "on" || strings.Contains(l, "power is on"):
		return "on"
	case l == "off" || strings.Contains(l, "power is off"):
		return "off"
	case l == "poweringon":
		return "powering on"
	case l == "poweringoff":
		return "powering off"
	}
	return l
}
