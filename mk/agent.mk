# Agent area: bench-agent compares the agent's O_DIRECT storage figures with fio's on the
# same file; agent-initrd builds the agent ramdisk (PXE-booted, runs the agent once).
BENCHES += bench-agent
.PHONY: bench-agent agent-initrd

BENCH_AGENT_DIR    ?= $(CACHE)/bench-agent
BENCH_AGENT_SIZE   ?= 512M
BENCH_AGENT_JOBS   ?= 4
BENCH_AGENT_ROUNDS ?= 24

# Same I/O for both (O_DIRECT, bs=1M, numjobs=jobs × psync iodepth=1 each on its own
# region via offset_increment, end_fsync=1, same size, same file); a warm-up round, then
# BENCH_AGENT_ROUNDS rounds alternating which tool goes first; prints every round, the
# medians, and PASS/MISS of the median round ratio against ±10 %. About 1-2 minutes.
bench-agent: build
	@./scripts/install-deps
	@mkdir -p $(BENCH_AGENT_DIR)
	bin/node-agent bench --dir $(BENCH_AGENT_DIR) --size $(BENCH_AGENT_SIZE) --jobs $(BENCH_AGENT_JOBS) --rounds $(BENCH_AGENT_ROUNDS)

# The agent ramdisk: Debian's kernel + an initramfs (busybox, modules, node-agent) in
# $(AGENT_INITRD_DIR), for a profile's boot.kernel/initrd (agent/vmlinuz, agent/initrd.gz).
AGENT_INITRD_DIR ?= artifacts/agent
agent-initrd: build
	@./scripts/install-deps
	$(GO) run ./internal/tools/agent-initrd -cache $(CACHE) -agent bin/node-agent -out $(AGENT_INITRD_DIR)
