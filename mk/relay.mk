# DHCP relay and several provisioning networks (issue 17): `make test-relay` runs the relay
# tests on their own: the handler, inventory and plan units, dhcrelay between namespaces
# with a real DHCP client (internal/lab/relay), and the QEMU guest reaching ready behind
# dhcrelay (internal/lab/e2e TestRelayedNodeReady).
.PHONY: test-relay
test-relay: deps build guest-kernel
	RACKLIFT_INTEGRATION=1 RACKLIFT_BIN=$(CURDIR)/bin RACKLIFT_CACHE=$(CACHE) \
		$(GO) test -count=1 -timeout 30m ./pkg/dhcp/... ./pkg/inventory/... ./pkg/plan/... ./internal/lab/relay/...
	RACKLIFT_INTEGRATION=1 RACKLIFT_BIN=$(CURDIR)/bin RACKLIFT_CACHE=$(CACHE) \
		$(GO) test -count=1 -timeout 30m -run '^TestRelayedNodeReady$$' -v ./internal/lab/e2e

FUZZ_TARGETS += fuzz-relay
.PHONY: fuzz-relay
fuzz-relay:
	$(GO) test -run '^$$' -fuzz '^FuzzRelayed$$' -fuzztime $(or $(FUZZTIME),60s) ./pkg/dhcp
