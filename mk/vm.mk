# Virtual lab (internal/lab/vm): Debian's guest kernel for QEMU test guests, cached under $(CACHE).
.PHONY: guest-kernel
guest-kernel:
	$(GO) run ./internal/tools/guest-kernel -cache $(CACHE)
