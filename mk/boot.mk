# Boot services (provision serve): iPXE binaries, fuzz targets and the boot-storm benchmark.
IPXE_DIR ?= /usr/lib/ipxe

.PHONY: pxe
# pxe/ holds the iPXE builds serve hands out over TFTP; copied from Debian's ipxe package.
pxe:
	@test -f $(IPXE_DIR)/undionly.kpxe || { echo "pxe: $(IPXE_DIR)/undionly.kpxe missing: apt-get install ipxe (or make deps)" >&2; exit 1; }
	install -m 0644 $(IPXE_DIR)/undionly.kpxe $(IPXE_DIR)/ipxe.efi $(IPXE_DIR)/snponly.efi pxe/
	@if [ -f $(IPXE_DIR)/arm64-efi/ipxe.efi ]; then mkdir -p pxe/arm64 && install -m 0644 $(IPXE_DIR)/arm64-efi/ipxe.efi pxe/arm64/ipxe.efi; \
	else echo "pxe: no arm64 iPXE in $(IPXE_DIR) (Debian ships it in ipxe only on some releases); arm64 clients get no boot file"; fi

# Fuzz targets: the DHCP handler, the TFTP path resolver and request parser, the iPXE
# template rendering.
BOOT_FUZZTIME ?= 60s
FUZZ_TARGETS += fuzz-boot
.PHONY: fuzz-boot
fuzz-boot:
	$(GO) test -run '^$$' -fuzz '^FuzzReply$$' -fuzztime $(BOOT_FUZZTIME) ./pkg/dhcp
	$(GO) test -run '^$$' -fuzz '^FuzzResolve$$' -fuzztime $(BOOT_FUZZTIME) ./pkg/tftp
	$(GO) test -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(BOOT_FUZZTIME) ./pkg/tftp
	$(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(BOOT_FUZZTIME) ./pkg/ipxe

# Boot storm: 500 TFTP clients × 1 MiB against racklift, tftpd-hpa and dnsmasq, twice
# (lock-step clients as iPXE, then windowsize-4 clients as EDK2 UEFI), and the DHCP
# answered rate (perfdhcp) against racklift and dnsmasq, in private namespaces.
BENCHES += bench-boot
.PHONY: bench-boot
bench-boot: deps
	$(GO) test -run '^$$' -bench '^BenchmarkBootStorm$$' -benchtime 1x -timeout 30m ./internal/bench/boot
