# Boot services (provision serve): iPXE binaries, fuzz targets and the boot-storm benchmark.
IPXE_DIR ?= /usr/lib/ipxe

.PHONY: pxe
# pxe/ holds the iPXE builds serve hands out over TFTP; copied from Debian's ipxe package.
pxe:
	@test -f $(IPXE_DIR)/undionly.kpxe || { echo "pxe: $(IPXE_DIR)/undionly.kpxe missing: apt-get install ipxe (or make deps)" >&2; exit 1; }
	install -m 0644 $(IPXE_DIR)/undionly.kpxe $(IPXE_DIR)/ipxe.efi $(IPXE_DIR)/snponly.efi pxe/
	@if [ -f $(IPXE_DIR)/arm64-efi/ipxe.efi ]; then mkdir -p pxe/arm64 && install -m 0644 $(IPXE_DIR)/arm64-efi/ipxe.efi pxe/arm64/ipxe.efi; \
	else echo "pxe: no arm64 iPXE in $(IPXE_DIR) (Debian ships it in ipxe only on some releases); arm64 clients get no boot file"; fi
