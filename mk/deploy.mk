# Deploy area: the agent's image writer against curl | zstd -dc | dd oflag=direct, and
# serve's image serving against nginx (32 concurrent downloads). DEPLOY_BENCH_SIZE=256M
# for a quick run; the default is the 1 GiB the goal is stated for.
DEPLOY_BENCH_SIZE ?= 1G
DEPLOY_BENCH_ROUNDS ?= 3
BENCHES += bench-deploy
.PHONY: bench-deploy
bench-deploy:
	$(GO) run ./internal/bench/deploy -size $(DEPLOY_BENCH_SIZE) -rounds $(DEPLOY_BENCH_ROUNDS)
