# Network setup (pkg/netsetup, pkg/agent/netcheck, pkg/lab): `make test-net` runs the
# namespace tests and the two-guest VLAN test (QEMU, Debian's kernel) on their own.
.PHONY: test-net
test-net: deps build guest-kernel
	RACKLIFT_INTEGRATION=1 RACKLIFT_BIN=$(CURDIR)/bin RACKLIFT_CACHE=$(CACHE) \
		$(GO) test -count=1 -timeout 20m ./pkg/lab/netns/... ./pkg/lab/vm/... ./pkg/netsetup/... ./pkg/agent/netcheck/...
