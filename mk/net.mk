# Network setup (pkg/netsetup, pkg/agent/netcheck, internal/lab): `make test-net` runs the
# namespace tests and the two-guest VLAN test (QEMU, Debian's kernel) on their own.
.PHONY: test-net
test-net: deps build guest-kernel
	RACKLIFT_INTEGRATION=1 RACKLIFT_BIN=$(CURDIR)/bin RACKLIFT_CACHE=$(CACHE) \
		$(GO) test -count=1 -timeout 20m ./internal/lab/netns/... ./internal/lab/vm/... ./pkg/netsetup/... ./pkg/agent/netcheck/...
