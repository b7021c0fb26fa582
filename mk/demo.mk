# The README's main job: a virtual rack (three QEMU guests behind Redfish and IPMI virtual
# BMCs in the network namespace racklift-lab) provisioned end to end by provision net
# apply, serve and up (scripts/demo). make demo-down removes all of it; so does an
# interrupted demo. bench-e2e times `up` for one node and for three on the same rack.
.PHONY: demo demo-down bench-e2e
demo: deps build pxe agent-initrd image
	./scripts/demo

demo-down:
	./scripts/demo-down

BENCHES += bench-e2e
bench-e2e: deps build
	RACKLIFT_INTEGRATION=1 RACKLIFT_BIN=$(CURDIR)/bin RACKLIFT_CACHE=$(CACHE) \
		$(GO) test -run '^$$' -bench '^BenchmarkRackUp$$' -benchtime 1x -timeout 60m ./internal/bench/e2e
