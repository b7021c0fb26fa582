# Dashboard (pkg/ui, docs/ui.md): ui-screenshots retakes docs/img/ui-*.png from a
# demo-like rack in Debian's headless Chromium; bench-ui prints the 10,000-node site's load
# times (Chromium's timing) and the event stream at 100 events/s.
.PHONY: ui-screenshots bench-ui
ui-screenshots: deps
	$(GO) test -count=1 -run '^TestScreenshots$$' ./pkg/ui -args -screenshots $(CURDIR)/docs/img

BENCHES += bench-ui
bench-ui: deps
	$(GO) test -count=1 -v -timeout 20m -run '^TestDashboard10k$$' ./pkg/ui
