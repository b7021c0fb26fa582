package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// fetchWindowed reads name from server as an RFC 7440 client does (EDK2's UEFI PXE
// asks for windowsize 4): blksize and windowsize are requested; when the OACK grants
// a window it acknowledges only each window's last block, otherwise every block
// (lock-step, what a server without windowsize gives). After a gap or a timeout it
// acknowledges the last block it has in order, which makes the server resend from
// there. It returns the bytes received.
func fetchWindowed(server *net.UDPAddr, name string, blksize, window int, timeout time.Duration, retries int) (int64, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: server.IP})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	rrq := binary.BigEndian.AppendUint16(nil, 1)
	for _, s := range []string{name, "octet", "blksize", strconv.Itoa(blksize), "windowsize", strconv.Itoa(window)} {
		rrq = append(append(rrq, s...), 0)
	}
	buf := make([]byte, 65536)
	var (
		peer    *net.UDPAddr // the server's transfer address, from its first answer
		bs      = 512
		win     = 1
		want    = uint16(1) // next block expected
		inWin   int         // blocks taken since the last ACK
		got     int64
		tries   int
		nacked  bool // the gap since the last progress was already acknowledged
		ack     = make([]byte, 4)
		sendAck = func(block uint16) error {
			binary.BigEndian.PutUint16(ack, 4)
			binary.BigEndian.PutUint16(ack[2:], block)
			_, err := conn.WriteToUDP(ack, peer)
			return err
		}
	)
	if _, err := conn.WriteToUDP(rrq, server); err != nil {
		return 0, err
	}
	for {
		conn.SetReadDeadline(time.Now().Add(timeout))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return got, err
			}
			if tries++; tries > retries {
				return got, fmt.Errorf("timed out waiting for block %d", want)
			}
			if peer == nil {
				_, err = conn.WriteToUDP(rrq, server)
			} else {
				inWin = 0
				err = sendAck(want - 1)
			}
			if err != nil {
				return got, err
			}
			continue
		}
		if peer == nil {
			peer = from
		} else if !from.IP.Equal(peer.IP) || from.Port != peer.Port {
			continue
		}
		if n < 4 {
			continue
		}
		p := buf[:n]
		switch binary.BigEndian.Uint16(p) {
		case 6: // OACK
			if want != 1 {
				continue
			}
			f := bytes.Split(p[2:len(p)-1], []byte{0})
			for i := 0; i+1 < len(f); i += 2 {
				v, _ := strconv.Atoi(string(f[i+1]))
				switch string(bytes.ToLower(f[i])) {
				case "blksize":
					bs = v
				case "windowsize":
					win = v
				}
			}
			tries = 0
			if err := sendAck(0); err != nil {
				return got, err
			}
		case 3: // DATA
			block := binary.BigEndian.Uint16(p[2:])
			if block != want {
				if int16(block-want) > 0 && !nacked { // a gap: ask for a resend once
					nacked, inWin = true, 0
					if err := sendAck(want - 1); err != nil {
						return got, err
					}
				}
				continue
			}
			got += int64(n - 4)
			want++
			inWin++
			tries, nacked = 0, false
			last := n-4 < bs
			if last || inWin >= win {
				inWin = 0
				if err := sendAck(block); err != nil {
					return got, err
				}
			}
			if last {
				return got, nil
			}
		case 5: // ERROR
			return got, fmt.Errorf("server error: %q", p[4:])
		}
	}
}
