package bmc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"regexp"
	"strings"
	"syscall"
)

// Error is a failed BMC operation. It names the node and the BMC, says what was tried,
// and carries a hint; its text never holds the BMC password.
type Error struct {
	Node string
	BMC  string // the BMC's URL, e.g. https://10.0.8.11:443 or ipmi://10.0.8.11:623
	Op   string
	Msg  string // the cause, redacted
	Hint string
	// Kind classifies the failure for callers and tests.
	Kind ErrorKind
	// Refusal is the BMC's own answer when it refused (HTTP status and message).
	Refusal *Refusal
	// NotApplied says what the BMC accepted and did not do.
	NotApplied *NotApplied
}

// ErrorKind is the class of a BMC failure.
type ErrorKind string

// Failure classes, stable in the JSON. Three families: the BMC did not answer
// (timeout, connection-refused, tls, unreachable), it answered and refused (refused,
// auth, session-limit, unavailable), or it accepted and did not do it (not-applied,
// in-transition, boot-dropped, boot-changed).
const (
	KindTimeout      ErrorKind = "timeout"            // no answer before the deadline (BMC hung or too slow)
	KindConnRefused  ErrorKind = "connection-refused" // nothing listens, until the deadline
	KindTLS          ErrorKind = "tls"                // certificate not trusted or fingerprint mismatch
	KindUnreachable  ErrorKind = "unreachable"        // no route, DNS, ...
	KindRefused      ErrorKind = "refused"            // the BMC answered an HTTP error: Error.Refusal says which
	KindAuth         ErrorKind = "auth"               // login refused
	KindSessionLimit ErrorKind = "session-limit"      // every session the BMC allows is taken, by others
	KindUnavailable  ErrorKind = "unavailable"        // 503 (busy, restarting) until the deadline
	KindNotApplied   ErrorKind = "not-applied"        // accepted, and the state never changed: Error.NotApplied
	KindInTransition ErrorKind = "in-transition"      // accepted, still PoweringOn/PoweringOff at the deadline
	KindBootDropped  ErrorKind = "boot-dropped"       // boot override accepted and not kept
	KindBootChanged  ErrorKind = "boot-changed"       // boot override kept otherwise (Once -> Continuous)
	KindConfig       ErrorKind = "config"             // inventory problem
	KindSecret       ErrorKind = "secret"             // no password, or an unreadable secrets file
	KindOther        ErrorKind = "other"
)

// Answered reports whether the BMC answered at all: it refused, or accepted and did not
// do it. Callers then say what the BMC said, not that it was silent.
func (e *Error) Answered() bool {
	switch e.Kind {
	case KindRefused, KindAuth, KindSessionLimit, KindUnavailable,
		KindNotApplied, KindInTransition, KindBootDropped, KindBootChanged:
		return true
	}
	return false
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("node ")
	b.WriteString(e.Node)
	if e.BMC != "" {
		b.WriteString(" (BMC ")
		b.WriteString(e.BMC)
		b.WriteString(")")
	}
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Redact removes every form of the secrets a BMC library might echo from s: the
// plain text, URL-escaped, and inside a basic-auth header.
func Redact(s string, user, password string) string {
	if password == "" {
		return s
	}
	forms := []string{
		base64.StdEncoding.EncodeToString([]byte(user + ":" + password)),
		url.QueryEscape(password),
		url.PathEscape(password),
		password,
	}
	for _, f := range forms {
		if f != "" {
			s = strings.ReplaceAll(s, f, "<redacted>")
		}
	}
	return s
}

// retryable reports whether err means the BMC did not take the request and may take it
// soon: HTTP 503 (busy, restarting) or a refused connection (rebooting).
func retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || status503.MatchString(s) ||
		strings.Contains(s, "ServiceTemporarilyUnavailable") || strings.Contains(s, "connection reset by peer")
}

// HTTP status codes as gofish ("503: {...}") and tidy ("HTTP 503 ...") write them, not
// digits inside an address such as 127.0.0.1:45031.
var (
	status401 = regexp.MustCompile(`(^|[^0-9.:])401[: ]`)
	status503 = regexp.MustCompile(`(^|[^0-9.:])503[: ]`)
)

// timeoutErr reports whether err is a client-side timeout: the HTTP client's own
// (bmclib sets it from the deadline, so it can fire a moment before the context) or
// a network i/o timeout.
func timeoutErr(err error) bool {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "Client.Timeout exceeded") || strings.Contains(s, "i/o timeout") ||
		strings.Contains(s, "context deadline exceeded")
}

// closedErr: the request's connection was closed under it (the deadline ending an
// exchange in flight gives this, not a timeout, from the HTTP client).
func closedErr(err error) bool {
	return errors.Is(err, net.ErrClosed)
}

// busyAnswer reports whether err is the BMC saying "not now" (503) or refusing the
// connection, as opposed to silence.
func busyAnswer(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || status503.MatchString(s) || strings.Contains(s, "ServiceTemporarilyUnavailable")
}

// classify turns a library error into a kind and a hint for the operator.
func classify(msg string, protocol string) (ErrorKind, string) {
	l := strings.ToLower(msg)
	switch {
	case strings.Contains(l, "certificate fingerprint"):
		return KindTLS, "the BMC presented a different certificate than the pinned tls.fingerprint: if the BMC's certificate was replaced, pin the new one shown here; otherwise something else answers at this address"
	case strings.Contains(l, "x509:") || strings.Contains(l, "tls:") && strings.Contains(l, "certificate"):
		return KindTLS, "the BMC's certificate is not trusted: set tls.ca_file to the CA that signed it, pin it with tls.fingerprint, or opt in to tls.insecure: true for this BMC"
	case status401.MatchString(l) || strings.Contains(l, "unauthorized") || strings.Contains(l, "insufficientprivilege") ||
		strings.Contains(l, "authorization error") || strings.Contains(l, "rakp") || strings.Contains(l, "unable to establish ipmi v2") ||
		strings.Contains(l, "invalid user name") || strings.Contains(l, "password"):
		return KindAuth, "the BMC refused the login: check the username and password of the node's credentials reference (environment RACKLIFT_CRED_<NAME>_PASSWORD or the secrets file)"
	case strings.Contains(l, "deadline exceeded") || strings.Contains(l, "timeout") || strings.Contains(l, "context canceled"):
		return KindTimeout, "the BMC did not answer within --timeout: check it answers at all (ping, its web UI), or raise --timeout for slow BMCs"
	case status503.MatchString(l) || strings.Contains(l, "temporarilyunavailable"):
		return KindUnavailable, "the BMC kept answering 503 (busy or restarting after a reset): wait for it to come back, or raise --timeout"
	case strings.Contains(l, "connection refused"):
		if protocol == "redfish" {
			return KindConnRefused, "nothing listens on the BMC's Redfish port: check bmc.address and bmc.port, that Redfish is enabled, or wait if the BMC is rebooting"
		}
		return KindConnRefused, "the BMC refused the connection: check bmc.address and bmc.port"
	case strings.Contains(l, "no route") || strings.Contains(l, "network is unreachable") || strings.Contains(l, "no such host"):
		return KindUnreachable, "the BMC address cannot be reached from this host: check the BMC network, VLAN and routes"
	}
	return KindOther, ""
}

// tidy shortens what bmclib and gofish return: the "N errors occurred" list, the
// Redfish error JSON (reduced to its status, message id and message) and the
// "no ... implementations found" that follows every provider failure.
func tidy(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for _, noise := range []string{"no Opener implementations found", "failed to set power state",
		"failed to get power state", "failed to set boot device", "failed to get boot device override settings"} {
		if strings.Contains(s, "* ") {
			s = strings.ReplaceAll(s, "* "+noise, "")
		}
	}
	if i := strings.Index(s, "error occurred: "); i >= 0 && i < 12 {
		s = s[i+len("error occurred: "):]
	} else if i := strings.Index(s, "errors occurred: "); i >= 0 && i < 12 {
		s = s[i+len("errors occurred: "):]
	}
	s = strings.TrimPrefix(strings.TrimSpace(s), "* ")
	s = strings.ReplaceAll(s, " * ", "; ")
	// "NNN: {json}" from gofish.
	if i := strings.Index(s, ": {\"error\""); i >= 3 {
		code := s[i-3 : i]
		dec := json.NewDecoder(strings.NewReader(s[i+2:]))
		var body struct {
			Error struct {
				Message string `json:"message"`
				Info    []struct {
					MessageID string `json:"MessageId"`
					Message   string `json:"Message"`
				} `json:"@Message.ExtendedInfo"`
			} `json:"error"`
		}
		if dec.Decode(&body) == nil {
			msg := body.Error.Message
			if len(body.Error.Info) > 0 {
				msg = body.Error.Info[0].Message
				if id := body.Error.Info[0].MessageID; id != "" {
					msg = id + ": " + msg
				}
			}
			rest := s[i+2+int(dec.InputOffset()):]
			s = s[:i-3] + "HTTP " + code + " " + msg + rest
		}
	}
	return strings.TrimRight(strings.TrimSpace(s), ";")
}
