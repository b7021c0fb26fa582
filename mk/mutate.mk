# make mutate: mutation testing of the core packages with gremlins, pinned and built once
# from the Go module proxy into $(CACHE)/tools like staticcheck. For each package gremlins
# puts one-line bugs into the code one at a time and runs the package's tests; the table
# gives test efficacy (killed / (killed + lived)) and mutator coverage ((killed + lived) /
# all mutants) against the goals, then each lived mutant as file:line:column. Slow (minutes
# per package; hours for all on a small machine): not part of `make test`.
#   make mutate MUTATE_PKGS="pkg/ipxe pkg/tftp"   some packages
#   make mutate MUTATE_FLAGS=-report              the table from the last run's JSON
GREMLINS_VERSION := v0.5.0
GREMLINS := $(CACHE)/tools/gremlins-$(GREMLINS_VERSION)-$(shell $(GO) env GOVERSION)
MUTATE_PKGS ?= pkg/inventory pkg/plan pkg/dhcp pkg/tftp pkg/bmc pkg/lifecycle pkg/state pkg/pki \
	pkg/provisioner pkg/api pkg/ipxe pkg/agent/gpu pkg/agent/storage
MUTATE_OUT ?= $(CACHE)/mutate
MUTATE_FLAGS ?=

.PHONY: mutate
mutate: $(GREMLINS)
	$(GO) run ./internal/tools/mutate -gremlins $(GREMLINS) -out $(MUTATE_OUT) $(MUTATE_FLAGS) $(MUTATE_PKGS)

$(GREMLINS):
	@mkdir -p $(@D)
	GOBIN=$(@D) $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	mv $(@D)/gremlins $@
