package provisioner

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// parseAgentURL checks the agent API's URL nodes are told instead of serve's own
// address (--agent-url: a load balancer's in front of several instances) and returns it
// as https://host:port with its host, which serve's certificate must then name too.
func parseAgentURL(s string) (norm, host string, err error) {
	u, err := url.Parse(s)
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("--agent-url %q: %s; want https://HOST:PORT, the address nodes reach the agent API at (a balancer's in front of the serve instances)", s, why)
	}
	switch {
	case err != nil:
		return bad("not a URL")
	case u.Scheme != "https":
		return bad("not https (the agent API is TLS with serve's CA)")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return bad("nothing but scheme, host and port")
	case u.Hostname() == "":
		return bad("no host")
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || port == 0 {
		return bad("no port (1-65535)")
	}
	host = u.Hostname()
	return "https://" + net.JoinHostPort(host, u.Port()), host, nil
}
