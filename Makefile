# racklift — `make demo` runs the virtual rack end to end, `make test` runs every test.
# Each target installs the Debian packages it needs (scripts/install-deps, as root).

GO        ?= go
export CGO_CFLAGS := -Wno-deprecated-declarations
export GOFLAGS    := -buildvcs=false
CACHE     ?= $(CURDIR)/.cache

# Areas add their own benchmarks and fuzz targets to these lists (mk/*.mk).
BENCHES :=
FUZZ_TARGETS :=

.PHONY: all build deps vet lint test unit bench fuzz clean
all: build

build:
	$(GO) build -o bin/provision ./cmd/provision
	$(GO) build -o bin/node-agent ./cmd/node-agent

deps:
	./scripts/install-deps

vet:
	$(GO) vet ./...

# Lint: gofmt (fails listing the files it would change), go vet, and staticcheck at a
# pinned version, built once from the Go module proxy into $(CACHE)/tools (one binary per
# staticcheck and Go version: a staticcheck built by an older Go cannot read newer code).
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(CACHE)/tools/staticcheck-$(STATICCHECK_VERSION)-$(shell $(GO) env GOVERSION)

lint: $(STATICCHECK)
	@unformatted=$$(find . -name '.?*' -prune -o -name '*.go' -exec gofmt -l {} +); \
	if [ -n "$$unformatted" ]; then echo "gofmt: these files are not formatted (gofmt -w FILE):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

$(STATICCHECK):
	@mkdir -p $(@D)
	GOBIN=$(@D) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(@D)/staticcheck $@

# Integration tests need root, network namespaces, QEMU and the packages above; with
# RACKLIFT_INTEGRATION=1 a missing prerequisite fails the test instead of skipping it.
# The deploy end-to-end test needs the lab's OS image (make image, cached by content).
test: deps build lint image
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
