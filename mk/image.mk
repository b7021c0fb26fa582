# The lab's OS image (internal/lab/osimage, docs/image.md): Debian bookworm from Debian
# packages only (mmdebstrap), node-agent and its unit, a raw GPT disk bootable on UEFI and
# BIOS, zstd-compressed, cached by content in $(CACHE)/image. Needs root. The first build
# downloads the packages and takes a few minutes; a second one with the same inputs is instant.
.PHONY: image
image: build
	@./scripts/install-deps
	$(GO) run ./internal/tools/osimage -cache $(CACHE) -agent bin/node-agent
