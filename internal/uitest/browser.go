// Package uitest is a test rig for the dashboard (pkg/ui): Debian's headless Chromium
// driven over the DevTools protocol by chromedp, on this host or inside a network
// namespace (the virtual rack's, where serve listens), with the few page helpers the
// tests share. The browser is killed, and its profile removed, when the test ends.
package uitest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/racklift/racklift/internal/testenv"
)

// Options shape the browser.
type Options struct {
	Width, Height int
	// NetNS runs the browser in this network namespace (ip netns exec), to reach a serve
	// that listens only there.
	NetNS string
}

// Browser starts headless Chromium for t and returns its tab's context. It needs
// Debian's chromium (scripts/packages/ui.txt): missing, the test skips, or fails under
// RACKLIFT_INTEGRATION=1.
func Browser(t testing.TB, o Options) context.Context {
	t.Helper()
	testenv.Slow(t)
	bin := testenv.NeedCommand(t, "chromium")[0]
	if o.NetNS != "" {
		// chromedp talks to the browser over inherited pipes, which pass through ip netns
		// exec and the exec below: the wrapper becomes Chromium, same process.
		w := filepath.Join(t.TempDir(), "chromium-in-netns")
		script := "#!/bin/sh\nexec ip netns exec " + o.NetNS + " " + bin + " \"$@\"\n"
		if err := os.WriteFile(w, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		bin = w
	}
	if o.Width == 0 {
		o.Width, o.Height = 1400, 1000
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // root in a container: Chromium's sandbox needs user namespaces it may not have
		chromedp.Flag("headless", "new"),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(o.Width, o.Height),
		// Its singleton socket directories (org.chromium.Chromium.*) go under TMPDIR and
		// stay when it is killed: a directory of the test's, removed after it.
		chromedp.Env("TMPDIR="+t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	// Cancelling the allocator kills the browser and what it left running in its profile
	// directory, waits for it and removes the directory: no Chromium outlives the test.
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	return ctx
}

// Do runs actions with a deadline, failing the test with what was being done.
func Do(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Eval evaluates js (an expression) in the page into *v (v nil: the result is dropped).
func Eval[T any](t testing.TB, ctx context.Context, js string, v *T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	if v != nil {
		*v = got
	}
}

// EvalAwait is Eval for an expression that gives a promise.
func EvalAwait[T any](t testing.TB, ctx context.Context, js string, v *T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	*v = got
}

// WaitJS waits up to timeout until the expression js is true in the page.
func WaitJS(t testing.TB, ctx context.Context, what, js string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout+10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// SiteLive is true once the dashboard's site view is drawn and its event stream open.
const SiteLive = `window.racklift && window.racklift.rendered >= 1 && document.querySelector(".live.on") !== null`
