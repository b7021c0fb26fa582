package vm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// QMP is a small client for QEMU's machine protocol: enough to drive power like a BMC.
type QMP struct {
	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
	// Events are QMP events seen while waiting for replies (SHUTDOWN, RESET, POWERDOWN...).
	Events []string
}

// DialQMP connects to a QMP unix socket and negotiates capabilities.
func DialQMP(sock string, timeout time.Duration) (*QMP, error) {
	deadline := time.Now().Add(timeout)
	var conn net.Conn
	var err error
	for {
		conn, err = net.DialTimeout("unix", sock, time.Second)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("qmp: connect %s: %w", sock, err)
	}
	q := &QMP{conn: conn, r: bufio.NewReader(conn)}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var greeting map[string]json.RawMessage
	if err := q.read(&greeting); err != nil {
		conn.Close()
		return nil, fmt.Errorf("qmp: greeting on %s: %w", sock, err)
	}
	if _, ok := greeting["QMP"]; !ok {
		conn.Close()
		return nil, fmt.Errorf("qmp: %s did not greet with QMP", sock)
	}
	if _, err := q.Execute("qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *QMP) read(v any) error {
	line, err := q.r.ReadBytes('\n')
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}

// Execute runs a QMP command and returns its "return" value.
func (q *QMP) Execute(cmd string, args any) (json.RawMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	q.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		var resp struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
			Event string `json:"event"`
		}
		if err := q.read(&resp); err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		switch {
		case resp.Event != "":
			q.Events = append(q.Events, resp.Event)
		case resp.Error != nil:
			return nil, fmt.Errorf("qmp %s: %s: %s", cmd, resp.Error.Class, resp.Error.Desc)
		default:
			return resp.Return, nil
		}
	}
}

// Status is the guest's run state, e.g. "running", "paused", "shutdown".
func (q *QMP) Status() (status string, running bool, err error) {
	raw, err := q.Execute("query-status", nil)
	if err != nil {
		return "", false, err
	}
	var s struct {
		Status  string `json:"status"`
		Running bool   `json:"running"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, fmt.Errorf("qmp query-status: %w", err)
	}
	return s.Status, s.Running, nil
}

// PowerDown presses the ACPI power button (a graceful shutdown request).
func (q *QMP) PowerDown() error { _, err := q.Execute("system_powerdown", nil); return err }

// Reset is a hard reset.
func (q *QMP) Reset() error { _, err := q.Execute("system_reset", nil); return err }

// Stop pauses the guest's CPUs; Cont resumes them.
func (q *QMP) Stop() error { _, err := q.Execute("stop", nil); return err }
func (q *QMP) Cont() error { _, err := q.Execute("cont", nil); return err }

// Quit ends QEMU at once (power pulled). The connection closes with it.
func (q *QMP) Quit() error {
	_, err := q.Execute("quit", nil)
	q.Close()
	if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		return nil // QEMU may close before it answers
	}
	return err
}

// Close closes the connection.
func (q *QMP) Close() error { return q.conn.Close() }
