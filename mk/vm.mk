# Virtual lab (pkg/lab/vm): Debian's guest kernel for QEMU test guests, cached under $(CACHE).
.PHONY: guest-kernel
guest-kernel:
	$(GO) run ./pkg/lab/vm/cmd/guest-kernel -cache $(CACHE)
