package httpboot

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/racklift/racklift/pkg/sanitize"
)

// CallbackStages are the stages a callback may report (templates/install and the boot
// scripts send these); anything else is refused, so a request cannot put its own text
// into the state.
var CallbackStages = []string{"booted", "installed", "first-boot"}

// callbackStage is the request's ?stage= (default "booted"), or an error quoting at most
// a short, escaped prefix of what was sent.
func callbackStage(r *http.Request) (string, error) {
	stage := r.URL.Query().Get("stage")
	if stage == "" {
		return "booted", nil
	}
	for _, s := range CallbackStages {
		if stage == s {
			return s, nil
		}
	}
	return "", fmt.Errorf("unknown callback stage %q (want one of %s)", sanitize.Text(stage, 40), strings.Join(CallbackStages, ", "))
}

// installFile is the request's install file name, refused when longer than
// sanitize.FileName or not plain printable ASCII: install templates name their files
// that way, and the name goes into events.
func installFile(r *http.Request) (string, error) {
	f := r.PathValue("file")
	if len(f) > sanitize.FileName || !sanitize.Printable(f) {
		return "", fmt.Errorf("install file name %q is not a plain name of at most %d bytes", sanitize.Text(f, 40), sanitize.FileName)
	}
	return f, nil
}
