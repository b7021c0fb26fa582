# racklift — `make demo` runs the virtual rack end to end, `make test` runs every test.
# Each target installs the Debian packages it needs (scripts/install-deps, as root).

GO        ?= go
export CGO_CFLAGS := -Wno-deprecated-declarations
export GOFLAGS    := -buildvcs=false
CACHE     ?= $(CURDIR)/.cache

# Areas add their own benchmarks and fuzz targets to these lists (mk/*.mk).
BENCHES :=
FUZZ_TARGETS :=

.PHONY: all build deps vet test unit bench fuzz clean
all: build

build:
	$(GO) build -o bin/provision ./cmd/provision
	$(GO) build -o bin/node-agent ./cmd/node-agent

deps:
	./scripts/install-deps

vet:
	$(GO) vet ./...

# Integration tests need root, network namespaces, QEMU and the packages above; with
# RACKLIFT_INTEGRATION=1 a missing prerequisite fails the test instead of skipping it.
test: deps build vet
	RACKLIFT_INTEGRATION=1 RACKLIFT_BIN=$(CURDIR)/bin RACKLIFT_CACHE=$(CACHE) \
		$(GO) test -count=1 -timeout 75m ./...

# Unit tests only: no root, no QEMU.
unit:
	$(GO) test -short -count=1 ./...

include mk/*.mk

bench: build $(BENCHES)

fuzz: $(FUZZ_TARGETS)

clean:
	rm -rf bin
