# make flake: the stability check. Every package but the QEMU ones runs FLAKE_COUNT times
# with the race detector; each test that failed at least once is listed with how often and
# its first failure's output, and the target fails. Not part of `make test` (it is slow).
# FLAKE_FLAGS defaults to -short (no root, no QEMU: as `make unit`); as root, FLAKE_FLAGS=
# runs the namespace tests too. FLAKE_PKGS narrows it: make flake FLAKE_PKGS=./pkg/tftp/...
FLAKE_COUNT ?= 20
FLAKE_FLAGS ?= -short
FLAKE_QEMU  := /internal/lab/(e2e|vm|rack)$$|/internal/bench/|/cmd/racklift-lab$$
FLAKE_PKGS  ?= $(shell $(GO) list ./... | grep -vE '$(FLAKE_QEMU)')

.PHONY: flake
flake:
	$(GO) run ./internal/tools/flake -count $(FLAKE_COUNT) -race -flags "$(FLAKE_FLAGS)" $(FLAKE_PKGS)
