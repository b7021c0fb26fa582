package ramdisk

import (
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
)

// The deploy's programs come along from the host; a missing required one is named.
func TestProgramsForTheDeploy(t *testing.T) {
	testenv.NeedCommand(t, "e2fsck", "resize2fs")
	fs, err := programs()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range fs {
		got[f.Guest] = true
	}
	for _, want := range []string{"/sbin/e2fsck", "/sbin/resize2fs"} {
		if !got[want] {
			t.Errorf("programs() = %+v, lacks %s", fs, want)
		}
	}
	saved := Programs
	t.Cleanup(func() { Programs = saved })
	Programs = []string{"no-such-program-racklift"}
	if _, err := programs(); err == nil || !strings.Contains(err.Error(), "no-such-program-racklift not found") {
		t.Fatalf("err = %v, want the missing program named", err)
	}
}
