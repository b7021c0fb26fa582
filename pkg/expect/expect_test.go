package expect

import (
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	e, err := Load("testdata/expect-8gpu.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if e.GPU == nil || e.GPU.Count != 8 || e.Node != "gpu-a01-01" {
		t.Fatalf("%+v", e)
	}
	// JSON is YAML too.
	if _, err := Parse([]byte(`{"node":"n1","storage":[{"mount":"/data","min_read_mbps":100}]}`), "x.json"); err != nil {
		t.Fatal(err)
	}
	// A typo must not silently drop a check.
	_, err = Parse([]byte("node: n1\ngpu:\n  cont: 8\n"), "typo.yaml")
	if err == nil || !strings.Contains(err.Error(), "typo.yaml") || !strings.Contains(err.Error(), "cont") {
		t.Fatalf("typo accepted: %v", err)
	}
}

func TestStorageMTU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		nets []Network
		want int
	}{
		{name: "none", want: 0},
		{name: "largest storage network", nets: []Network{{Name: "s1", Role: "storage", MTU: 1500}, {Name: "s2", Role: "storage", MTU: 9000}}, want: 9000},
		{name: "other roles ignored", nets: []Network{{Name: "c", Role: "compute", MTU: 9216}, {Name: "s", Role: "storage", MTU: 4200}}, want: 4200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &Expectations{Networks: tc.nets}
			if got := e.StorageMTU(); got != tc.want {
				t.Errorf("StorageMTU() = %d, want %d", got, tc.want)
			}
		})
	}
}
