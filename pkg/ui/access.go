package ui

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/racklift/racklift/pkg/api"
)

// Who may see the dashboard, in one place:
//
//   - a client on this host: its address is loopback, or the very address it connected
//     to (a browser or an ssh -L tunnel on serve's host reaching serve's provisioning
//     address); Linux drops packets from outside that claim one of the host's own
//     addresses, so neither can be forged from the network. The request must also name
//     the host by an IP address or "localhost", so a web page that rebinds its DNS name
//     to 127.0.0.1 gets nothing;
//   - any other client presenting the control API's token (api.TokenOK, the one rule the
//     CLI's API applies): as a bearer token, or as the session cookie the login form
//     gives for it.
//
// Everything else is refused with the login page (401). The dashboard is read-only.

// cookieName is the session cookie the login form sets.
const cookieName = "racklift_ui"

// session is the cookie's value for token: an HMAC of it, so the cookie opens the
// dashboard only, never the control API, and a new token (a new state) ends every session.
func session(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("racklift dashboard session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// maxLogin bounds the login form's body.
const maxLogin = 4 << 10

func (h *handler) guard() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		// Scripts only from the page's own files; the page inserts every string as text.
		hdr.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("X-Frame-Options", "DENY")
		if r.URL.Path == Prefix+"login" || r.URL.Path == Prefix+"app.css" {
			if r.Method == http.MethodPost && r.URL.Path == Prefix+"login" {
				h.login(w, r)
				return
			}
			if r.URL.Path == Prefix+"app.css" {
				h.mux.ServeHTTP(w, r)
				return
			}
			h.loginPage(w, http.StatusOK, "")
			return
		}
		if !h.allowed(r) {
			if strings.HasPrefix(r.URL.Path, Prefix+"api/") {
				w.Header().Set("WWW-Authenticate", `Bearer realm="racklift dashboard"`)
				writeError(w, http.StatusUnauthorized, "dashboard: this client is not on serve's host: log in with the control token (api.token in serve's --state-dir), or open it through ssh -L")
				return
			}
			h.loginPage(w, http.StatusUnauthorized, "")
			return
		}
		h.mux.ServeHTTP(w, r)
	})
}

// allowed applies the rule above.
func (h *handler) allowed(r *http.Request) bool {
	if onThisHost(r) && localName(r.Host) {
		return true
	}
	if api.TokenOK(api.Bearer(r), h.cfg.Token) {
		return true
	}
	c, err := r.Cookie(cookieName)
	return err == nil && h.cfg.Token != "" && api.TokenOK(c.Value, session(h.cfg.Token))
}

// onThisHost: the client's address is loopback, or the address it connected to.
func onThisHost(r *http.Request) bool {
	remote, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := remote.Addr().Unmap()
	if ip.IsLoopback() {
		return true
	}
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	local, err := netip.ParseAddrPort(la.String())
	return err == nil && local.Addr().Unmap() == ip
}

// localName: the Host header names an IP address or localhost (not a DNS name that could
// have been rebound to this host).
func localName(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLogin)
	if err := r.ParseForm(); err != nil {
		h.loginPage(w, http.StatusBadRequest, "the login form could not be read")
		return
	}
	if !api.TokenOK(strings.TrimSpace(r.PostForm.Get("token")), h.cfg.Token) {
		// The address only: what was typed may be a secret of something else.
		h.cfg.Log.Warn("dashboard login refused: wrong control token", "client", r.RemoteAddr)
		h.loginPage(w, http.StatusUnauthorized, "That is not serve's control token.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: session(h.cfg.Token), Path: Prefix,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (h *handler) loginPage(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	note := ""
	if msg != "" {
		note = `<p class="error" role="alert">` + msg + `</p>`
	}
	w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>racklift: log in</title>
<link rel="stylesheet" href="` + Prefix + `app.css"></head><body class="login"><main>
<h1>racklift dashboard</h1>` + note + `
<p>The dashboard answers browsers on serve's own host (or through <code>ssh -L PORT:SERVE-ADDRESS:PORT</code>).
From elsewhere, give serve's control token: the file <code>api.token</code> in serve's <code>--state-dir</code>.
On plain HTTP the token crosses the network in clear: prefer the tunnel.</p>
<form method="post" action="` + Prefix + `login"><label>control token <input type="password" name="token" autocomplete="off" required></label>
<button type="submit">open the dashboard</button></form></main></body></html>
`))
}
