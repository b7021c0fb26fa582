# make dist: versioned, stamped binaries and Debian packages in dist/.
#   dist/provision-VERSION-linux-amd64 (static), -linux-arm64, -darwin-arm64
#   dist/node-agent-VERSION-linux-amd64
#   dist/racklift-provision_VERSION-1_amd64.deb, dist/racklift-node-agent_VERSION-1_amd64.deb
# VERSION is the newest v* tag (without the v), else 0.1.0; COMMIT and DATE come from git
# (DATE is the commit's, so the same commit builds the same stamp).
DIST_VERSION ?= $(or $(patsubst v%,%,$(shell git describe --tags --match 'v[0-9]*' 2>/dev/null)),0.1.0)
DIST_COMMIT  ?= $(or $(shell git rev-parse --short=12 HEAD 2>/dev/null),unknown)
DIST_EPOCH   ?= $(or $(shell git log -1 --format=%ct 2>/dev/null),$(shell date +%s))
DIST_DATE    ?= $(shell date -u -d @$(DIST_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
DEB_REVISION ?= 1
DIST         ?= dist
VERSION_PKG  := github.com/racklift/racklift/pkg/version
DIST_LDFLAGS := -s -w -X $(VERSION_PKG).Version=$(DIST_VERSION) -X $(VERSION_PKG).Commit=$(DIST_COMMIT) \
	-X $(VERSION_PKG).Date=$(DIST_DATE) -X github.com/racklift/racklift/pkg/agent.Version=$(DIST_VERSION)
# No -trimpath: with it, go leaves -ldflags out of the build info, and `go version -m`
# is how a binary that cannot run here (darwin) shows its stamp. The cost: the build
# directory is in the binaries' file paths.
DIST_GO      := $(GO) build -ldflags '$(DIST_LDFLAGS)'
PROVISION_PLATFORMS := linux/amd64 linux/arm64 darwin/arm64

.PHONY: dist dist-bin dist-deb lintian
dist: dist-bin dist-deb lintian

dist-bin:
	@mkdir -p $(DIST)
	@set -e; for p in $(PROVISION_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; echo "dist: provision $(DIST_VERSION) $$os/$$arch (static)"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(DIST_GO) -o $(DIST)/provision-$(DIST_VERSION)-$$os-$$arch ./cmd/provision; \
	done
	@echo "dist: node-agent $(DIST_VERSION) linux/amd64"
	GOOS=linux GOARCH=amd64 $(DIST_GO) -o $(DIST)/node-agent-$(DIST_VERSION)-linux-amd64 ./cmd/node-agent
	cd $(DIST) && sha256sum provision-$(DIST_VERSION)-* node-agent-$(DIST_VERSION)-* >SHA256SUMS

dist-deb: dist-bin
	SOURCE_DATE_EPOCH=$(DIST_EPOCH) packaging/build-deb racklift-provision $(DIST_VERSION)-$(DEB_REVISION) amd64 \
		$(DIST)/provision-$(DIST_VERSION)-linux-amd64 $(DIST)
	SOURCE_DATE_EPOCH=$(DIST_EPOCH) packaging/build-deb racklift-node-agent $(DIST_VERSION)-$(DEB_REVISION) amd64 \
		$(DIST)/node-agent-$(DIST_VERSION)-linux-amd64 $(DIST)

# lintian (Debian's package checker): errors fail the build, warnings are shown. Its
# mldbm-* caches go to a temporary directory removed after it (it leaves them in /tmp).
lintian: dist-deb
	tmp=$$(mktemp -d) && TMPDIR=$$tmp lintian --fail-on error \
		$(DIST)/racklift-provision_$(DIST_VERSION)-$(DEB_REVISION)_amd64.deb \
		$(DIST)/racklift-node-agent_$(DIST_VERSION)-$(DEB_REVISION)_amd64.deb; \
		rc=$$?; rm -rf "$$tmp"; exit $$rc

# The packaging test (internal/dist TestMakeDist): make dist, lintian, dpkg into a
# throwaway root, man, systemd-analyze verify. Part of make test; this runs it alone.
.PHONY: test-dist
test-dist: build
	./scripts/install-deps
	RACKLIFT_INTEGRATION=1 RACKLIFT_BIN=$(CURDIR)/bin RACKLIFT_CACHE=$(CACHE) \
		$(GO) test -count=1 -timeout 60m -run '^TestMakeDist$$' -v ./internal/dist
