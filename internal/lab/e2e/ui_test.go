package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/racklift/racklift/internal/uitest"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
)

// dashboard opens serve's dashboard (issue 19) in headless Chromium inside the rack's
// namespace, where serve listens on the provisioning network's server address, and
// returns the tab once the site view is live. The page stays open for the whole test.
func (r *Rig) dashboard(t *testing.T) context.Context {
	t.Helper()
	inv, err := inventory.Load(r.inv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := uitest.Browser(t, uitest.Options{NetNS: r.rack.NS().Name})
	url := fmt.Sprintf("http://%s:8080/ui/", inv.Network("provisioning").Server)
	uitest.Do(t, ctx, "opening the dashboard at "+url, chromedp.Navigate(url))
	uitest.WaitJS(t, ctx, "the dashboard's live site view", uitest.SiteLive, time.Minute)
	return ctx
}

// dashboardShows waits until the open page's boxes say the phases want, pushed by serve
// as they happened (a restarted serve included), and checks the page was never reloaded.
func dashboardShows(t *testing.T, ctx context.Context, want map[string]lifecycle.Phase) {
	t.Helper()
	var conds []string
	for n, p := range want {
		conds = append(conds, fmt.Sprintf(`(document.getElementById(%q) || {dataset: {}}).dataset.phase === %q`, "n-"+n, p))
	}
	sort.Strings(conds)
	js := strings.Join(conds, " && ")
	ctx2, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := chromedp.Run(ctx2, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))); err != nil {
		var shown map[string]string
		uitest.Eval(t, ctx, `Object.fromEntries([...document.querySelectorAll(".rack .box")].map(b => [b.id, b.dataset.phase]))`, &shown)
		t.Fatalf("the dashboard does not show %v: it shows %v (%v)", want, shown, err)
	}
	var navigations int
	uitest.Eval(t, ctx, `performance.getEntriesByType("navigation").length`, &navigations)
	if navigations != 1 {
		t.Errorf("the dashboard was reloaded (%d navigations): its event stream should have carried every change", navigations)
	}
}
