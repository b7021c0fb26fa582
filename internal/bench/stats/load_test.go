package stats

import (
	"strings"
	"testing"
	"time"
)

func TestParseLoadavg(t *testing.T) {
	got, err := parseLoadavg([]byte("0.52 1.25 3.00 2/345 6789\n"))
	if err != nil || got != [3]float64{0.52, 1.25, 3} {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "0.5 1.0", "0.5 x 1.0 1/2 3"} {
		if _, err := parseLoadavg([]byte(bad)); err == nil || !strings.Contains(err.Error(), "/proc/loadavg") {
			t.Errorf("%q: err %v, want one naming /proc/loadavg", bad, err)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with a space and a ')' in it; utime 150, stime 50, cutime 20,
	// cstime 30 ticks: 2.5 s.
	stat := "1234 (in.tftpd) x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 20 30 20 0 1 0 100 1000 10\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 2500*time.Millisecond {
		t.Fatalf("%v %v, want 2.5s", got, err)
	}
	if _, err := parseStatCPU([]byte("1234 (short) S 1 2")); err == nil {
		t.Error("a truncated stat parsed")
	}
}

func TestParseSomeTotal(t *testing.T) {
	psi := "some avg10=1.00 avg60=0.50 avg300=0.10 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=999\n"
	got, err := parseSomeTotal([]byte(psi))
	if err != nil || got != 123456*time.Microsecond {
		t.Fatalf("%v %v, want 123.456ms (the some line, not full)", got, err)
	}
	if _, err := parseSomeTotal([]byte("full avg10=0 total=5\n")); err == nil {
		t.Error("no some line parsed")
	}
}

// The readers work on this machine: this process has used CPU, and itself is a
// running process /proc knows.
func TestSelfCPU(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	if SelfCPU() <= 0 {
		t.Error("SelfCPU is 0 after spinning 50 ms")
	}
	if _, err := LoadAverage(); err != nil {
		t.Errorf("LoadAverage: %v", err)
	}
	if s := LoadString(); len(strings.Fields(s)) != 3 {
		t.Errorf("LoadString %q", s)
	}
}
