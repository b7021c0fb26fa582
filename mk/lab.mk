# Virtual rack (internal/lab/rack): bin/racklift-lab is built with the other binaries.
# `racklift-lab up --dir .demo --detach` starts it, `racklift-lab down --dir .demo` removes it.
.PHONY: build-lab
build: build-lab
build-lab:
	$(GO) build -o bin/racklift-lab ./cmd/racklift-lab
