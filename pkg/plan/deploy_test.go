package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
)

func TestExpectationsDeploy(t *testing.T) {
	t.Parallel()
	sha := strings.Repeat("0f", 32)
	for _, tc := range []struct {
		name  string
		image string // the profile's image: line, "" for none
		want  *expect.Deploy
	}{
		{name: "no image: stateless", image: "", want: nil},
		{name: "artifact on serve's http", image: "{file: images/debian.raw.zst, sha256: " + sha + ", size: 2147483648}",
			want: &expect.Deploy{Image: "debian", URL: "http://10.1.0.1:8080/artifacts/images/debian.raw.zst", SHA256: sha, Size: 2 << 30, Hostname: "a"}},
		{name: "url and hints", image: "{file: \"https://img.example/os/d.raw.gz\", sha256: " + sha + ", root_device: {min_size_gib: 100, serial: S1}}",
			want: &expect.Deploy{Image: "d", URL: "https://img.example/os/d.raw.gz", SHA256: sha, Hostname: "a",
				RootDevice: expect.RootDeviceHints{MinSizeGiB: 100, Serial: "S1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := strings.Replace(peerSite, "    expect: {networks: [storage, compute], peers: [a, b]}", "    expect: {}", 1)
			if tc.image != "" {
				site = strings.Replace(site, "    expect: {}", "    expect: {}\n    image: "+tc.image, 1)
			}
			path := filepath.Join(t.TempDir(), "site.yaml")
			if err := os.WriteFile(path, []byte(site), 0o644); err != nil {
				t.Fatal(err)
			}
			inv, err := inventory.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			e, err := ExpectationsFor(inv, "a")
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == nil && e.Deploy != nil:
				t.Fatalf("deploy %+v, want none", e.Deploy)
			case tc.want != nil && (e.Deploy == nil || *e.Deploy != *tc.want):
				t.Fatalf("deploy\n got %+v\nwant %+v", e.Deploy, tc.want)
			}
		})
	}
}
