package bmc

import (
	"errors"
	"strings"
	"testing"
)

func TestClassifyIgnoresDigitsInAddresses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg  string
		kind ErrorKind
	}{
		{`provider: gofish: Get "https://127.1.2.91:37401/redfish/v1/": net/http: request canceled (Client.Timeout exceeded while awaiting headers)`, KindTimeout},
		{`provider: gofish: HTTP 401 Base.1.8.ResourceAtUriUnauthorized: invalid username or password.`, KindAuth},
		{`provider: gofish: HTTP 503 Base.1.8.ServiceTemporarilyUnavailable: busy`, KindUnavailable},
		{`dial tcp 10.0.8.11:45031: connect: no route to host`, KindUnreachable},
		{`dial tcp 10.0.8.11:15030: connect: connection refused`, KindConnRefused},
	} {
		if k, _ := classify(tc.msg, "redfish"); k != tc.kind {
			t.Errorf("%q: kind %s, want %s", tc.msg, k, tc.kind)
		}
	}
	if busyAnswer(errors.New(`Get "https://127.1.2.91:45031/redfish/v1/": EOF`)) {
		t.Error("port 45031 read as HTTP 503")
	}
	if !busyAnswer(errors.New(`provider: gofish: 503: {"error":{}}`)) {
		t.Error("gofish 503 not seen")
	}
	if !timeoutErr(errors.New(`net/http: request canceled (Client.Timeout exceeded while awaiting headers)`)) {
		t.Error("client timeout not seen")
	}
}

func TestRedactAllForms(t *testing.T) {
	t.Parallel()
	pw := "p@ss w/rd&1"
	in := "login p@ss w/rd&1 url p%40ss+w%2Frd%261 path p@ss%20w%2Frd&1 basic YWRtaW46cEBzcyB3L3JkJjE="
	out := Redact(in, "admin", pw)
	for _, leak := range []string{pw, "p%40ss+w%2Frd%261", "YWRtaW46cEBzcyB3L3JkJjE=", "p@ss%20w%2Frd&1"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q still in %q", leak, out)
		}
	}
}
