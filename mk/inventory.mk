# Inventory area: bench generates a 10,000-node site and times validate and plan;
# schema regenerates inventory/schema.json from the inventory types.
BENCHES += bench-inventory
.PHONY: bench-inventory schema
bench-inventory: build
	$(GO) run ./internal/bench/inventory -bin bin/provision -nodes 10000 -runs 5

schema: build
	bin/provision schema > inventory/schema.json

# Fuzz the strict loader with arbitrary YAML: it must never panic and always locate errors.
FUZZ_TARGETS += fuzz-inventory
.PHONY: fuzz-inventory
fuzz-inventory:
	$(GO) test ./pkg/inventory -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(or $(FUZZTIME),60s)
