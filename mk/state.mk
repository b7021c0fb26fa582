# Hardening of what the network can reach (docs/security.md, "Bounds"): fuzz the agent
# API's report endpoint, the boot HTTP callback and install paths, and the sanitizer.
HARDEN_FUZZTIME ?= $(or $(FUZZTIME),60s)
FUZZ_TARGETS += fuzz-harden
.PHONY: fuzz-harden
fuzz-harden:
	$(GO) test -run '^$$' -fuzz '^FuzzAgentReport$$' -fuzztime $(HARDEN_FUZZTIME) ./pkg/api
	$(GO) test -run '^$$' -fuzz '^FuzzBootRequests$$' -fuzztime $(HARDEN_FUZZTIME) ./pkg/httpboot
	$(GO) test -run '^$$' -fuzz '^FuzzText$$' -fuzztime $(HARDEN_FUZZTIME) ./pkg/sanitize
