# BMC area: virtual Redfish BMCs and ipmi_sim for tests; bench-bmc times power on and
# boot pxe across 1000 virtual BMCs (200 ms latency, 5 % hung, 5 % demanding If-Match,
# 5 % answering with task monitors) against the ideal.
BENCHES += bench-bmc
.PHONY: bench-bmc
bench-bmc: build
	$(GO) run ./internal/bench/bmc -provision bin/provision
