# The README's test command is `make test`: every test of every module
# (end-to-end tests against a real Temporal server included), then a short
# fuzz run of every fuzz target.

FUZZTIME ?= 4s
FUZZ_PACKAGES := ./routing ./registry ./interceptor

.PHONY: test unit fuzz demo bench

test: unit fuzz

unit:
	go test -race -timeout 30m ./...
	go -C tools/devserver test ./...

# go test -fuzz takes one target at a time; each runs FUZZTIME.
fuzz:
	@set -e; for pkg in $(FUZZ_PACKAGES); do \
		for target in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
			go test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

demo:
	go run ./examples/noisyneighbor
