package dhcp

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/testenv"
)

func TestExportDnsmasqPassesDnsmasqTest(t *testing.T) {
	t.Parallel()
	bin := testenv.NeedCommand(t, "dnsmasq")[0]
	for _, opt := range []DnsmasqOptions{{}, {Proxy: true, Ranges: map[string]string{"prov": "10.202.0.100-10.202.0.200"}}} {
		var buf bytes.Buffer
		if err := ExportDnsmasq(&buf, testPlan(), opt); err != nil {
			t.Fatal(err)
		}
		s := buf.String()
		if opt.Proxy {
			if strings.Contains(s, "dhcp-boot") || !strings.Contains(s, "dhcp-range=set:net-prov,10.202.0.100,10.202.0.200,255.255.255.0,3600s") {
				t.Errorf("proxy export:\n%s", s)
			}
		} else {
			for _, want := range []string{
				"dhcp-host=52:54:00:02:00:01,set:node-gpu-01,10.202.0.11,gpu-01",
				"dhcp-boot=tag:node-gpu-01,tag:ipxe,http://10.202.0.2:8080/ipxe/52:54:00:02:00:01",
				"dhcp-boot=tag:node-gpu-01,tag:!ipxe,tag:!httpclient,tag:bios,undionly.kpxe,,10.202.0.2",
				"dhcp-boot=tag:node-gpu-01,tag:!ipxe,tag:!httpclient,tag:efi64,ipxe.efi,,10.202.0.2",
				"dhcp-option=tag:net-prov,option:mtu,9000",
				"dhcp-option=tag:net-prov,option:router,10.202.0.1",
			} {
				if !strings.Contains(s, want+"\n") {
					t.Errorf("export lacks %q:\n%s", want, s)
				}
			}
		}
		f := filepath.Join(t.TempDir(), "dnsmasq.conf")
		if err := os.WriteFile(f, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, bin, "--test", "--conf-file="+f).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "syntax check OK") {
			t.Fatalf("dnsmasq --test: %v: %s\n%s", err, out, s)
		}
	}
	if err := ExportDnsmasq(&bytes.Buffer{}, testPlan(), DnsmasqOptions{Proxy: true}); err == nil {
		t.Error("proxy export without a range should fail")
	}
}
