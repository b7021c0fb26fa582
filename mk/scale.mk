# Scale area: bench-scale brings simulated nodes across many provisioning networks to
# ready with three serve cores sharing their state on a three-member etcd (Debian's
# etcd-server, started on loopback), against one core on bbolt, and prints both wall
# times, events per second, the failover time and each instance's peak memory
# (docs/scale.md). Goals (issue 17): etcd within 1.2x bbolt, failover under 10 s, under
# 500 MB per instance.
BENCHES += bench-scale
.PHONY: bench-scale

BENCH_SCALE_NODES    ?= 10000
BENCH_SCALE_NETWORKS ?= 20
BENCH_SCALE_LEASE    ?= 6s
BENCH_SCALE_TICK     ?= 2s

bench-scale:
	./scripts/install-deps
	$(GO) run ./internal/bench/scale -nodes $(BENCH_SCALE_NODES) -networks $(BENCH_SCALE_NETWORKS) \
		-lease $(BENCH_SCALE_LEASE) -tick $(BENCH_SCALE_TICK)

# The lab rack (QEMU guests, virtual BMCs) brought up by three serve instances on a
# three-member etcd, the network's holder SIGKILLed during up (internal/lab/e2e
# TestRackUpOnEtcdInstances), alone: make test runs it with the rest.
.PHONY: test-etcd-rack
test-etcd-rack: deps build guest-kernel
	RACKLIFT_INTEGRATION=1 RACKLIFT_BIN=$(CURDIR)/bin RACKLIFT_CACHE=$(CACHE) \
		$(GO) test -count=1 -timeout 40m -run '^TestRackUpOnEtcdInstances$$' -v ./internal/lab/e2e
