package vm

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// ControlLoop is shell for the end of a guest's /init (with Config.Control): it prints
// "racklift-control: ready" on the console, then runs each command VM.Exec sends over
// /dev/ttyS1 and sends back its output and exit status. Output never mixes with kernel
// messages on the console.
const ControlLoop = `stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3<>/dev/ttyS1
echo "racklift-control: ready"
while read -r id cmd <&3; do
  sh -c "$cmd" >/tmp/ctl.out 2>&1
  rc=$?
  { echo "@@BEGIN $id"; cat /tmp/ctl.out; echo "@@END $id rc=$rc"; } >&3
done
`

// ControlReady matches the console line ControlLoop prints when it listens.
const ControlReady = "racklift-control: ready"

type control struct {
	conn net.Conn
	r    *bufio.Reader
	id   int
}

// Exec runs a one-line shell command in the guest (ControlLoop must be running) and
// returns its combined output and exit status. Commands run one at a time.
func (v *VM) Exec(cmd string, timeout time.Duration) (string, int, error) {
	if strings.ContainsAny(cmd, "\n\r") {
		return "", -1, fmt.Errorf("vm %s: Exec takes one line, got %q", v.Name, cmd)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ControlSocket == "" {
		return "", -1, fmt.Errorf("vm %s: started without Config.Control", v.Name)
	}
	if v.ctl == nil {
		conn, err := net.DialTimeout("unix", v.ControlSocket, 5*time.Second)
		if err != nil {
			return "", -1, fmt.Errorf("vm %s: control socket: %w", v.Name, err)
		}
		v.ctl = &control{conn: conn, r: bufio.NewReader(conn)}
	}
	c := v.ctl
	c.id++
	id := strconv.Itoa(c.id)
	c.conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(c.conn, "%s %s\n", id, cmd); err != nil {
		return "", -1, fmt.Errorf("vm %s: send %q: %w", v.Name, cmd, err)
	}
	var out strings.Builder
	in := false
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return out.String(), -1, fmt.Errorf("vm %s: %q: no answer within %s (%v); console tail:\n%s", v.Name, cmd, timeout, err, v.LogTail(20))
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "@@BEGIN "+id:
			in = true
		case strings.HasPrefix(line, "@@END "+id+" rc="):
			rc, _ := strconv.Atoi(strings.TrimPrefix(line, "@@END "+id+" rc="))
			return out.String(), rc, nil
		case in:
			out.WriteString(line + "\n")
		}
	}
}
