# The lab's OS image (internal/lab/osimage, docs/image.md): Debian bookworm from Debian
# packages only (mmdebstrap), node-agent and its unit, a raw GPT disk bootable on UEFI and
# BIOS, zstd-compressed, cached by content in $(CACHE)/image. Needs root. The first build
# downloads the packages and takes a few minutes; a second one with the same inputs is instant.
.PHONY: image
image: build
	@./scripts/install-deps
	$(GO) run ./internal/tools/osimage -cache $(CACHE) -agent bin/node-agent

# The deploy end-to-end test (internal/lab/e2e TestRackDeployEndToEnd) on the lab image,
# alone (make test runs it with the rest).
.PHONY: test-deploy
test-deploy: image
	RACKLIFT_INTEGRATION=1 RACKLIFT_BIN=$(CURDIR)/bin RACKLIFT_CACHE=$(CACHE) \
		$(GO) test -count=1 -timeout 60m -run '^TestRackDeployEndToEnd$$' -v ./internal/lab/e2e
