package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// TFTP opcodes (RFC 1350, RFC 2347).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// TFTP error codes sent to clients.
const (
	errUndefined      = 0
	errNotFound       = 1
	errAccess         = 2
	errIllegal        = 4
	errUnknownOptions = 8
)

// request is a parsed RRQ or WRQ.
type request struct {
	op       uint16
	filename string
	mode     string // lower case
	opts     []option
}

type option struct{ name, value string } // name in lower case

var errMalformed = errors.New("malformed request")

func parseRequest(b []byte) (request, error) {
	if len(b) < 4 {
		return request{}, errMalformed
	}
	r := request{op: binary.BigEndian.Uint16(b)}
	fields := bytes.Split(b[2:], []byte{0})
	// A well-formed request ends with NUL, so the last field is empty.
	if len(fields) < 3 || len(fields[len(fields)-1]) != 0 {
		return request{}, errMalformed
	}
	fields = fields[:len(fields)-1]
	r.filename = string(fields[0])
	r.mode = strings.ToLower(string(fields[1]))
	for i := 2; i+1 < len(fields); i += 2 {
		r.opts = append(r.opts, option{strings.ToLower(string(fields[i])), string(fields[i+1])})
	}
	return r, nil
}

func (r request) option(name string) (string, bool) {
	for _, o := range r.opts {
		if o.name == name {
			return o.value, true
		}
	}
	return "", false
}

// intOption is the named option's value when present and inside [lo, hi].
func (r request) intOption(name string, lo, hi int) (int, bool) {
	v, ok := r.option(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

func appendOACK(b []byte, opts []option) []byte {
	b = binary.BigEndian.AppendUint16(b, opOACK)
	for _, o := range opts {
		b = append(append(append(append(b, o.name...), 0), o.value...), 0)
	}
	return b
}

func appendError(b []byte, code uint16, msg string) []byte {
	b = binary.BigEndian.AppendUint16(b, opERROR)
	b = binary.BigEndian.AppendUint16(b, code)
	return append(append(b, msg...), 0)
}
