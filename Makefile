# The README's test command is `make test`: every test of every module
# (end-to-end tests against a real Temporal server included), then a short
# fuzz run of every fuzz target.

# Fuzz budgets are counts of inputs, not durations. A duration -fuzztime
# races Go's fuzz coordinator (golang/go#75804, fixed in Go 1.27, not in
# 1.26.x): a run can fail with a bare "context deadline exceeded" and no
# crasher when the deadline fires while a worker is busy. A count has no
# deadline to race. 20000 inputs take 1.5 s to 8 s per target on 2 cores.
FUZZTIME ?= 20000x
FUZZMINIMIZETIME ?= 500x
FUZZ_PACKAGES := ./routing ./registry ./interceptor ./internal/ops

.PHONY: test unit fuzz demo bench ui-check

test: unit fuzz

unit:
	go test -race -timeout 30m ./...
	go -C tools/devserver test ./...

# go test -fuzz takes one target at a time; each runs FUZZTIME inputs.
fuzz:
	@set -e; for pkg in $(FUZZ_PACKAGES); do \
		for target in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
			go test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg; \
		done; \
	done
	@echo "fuzz tools/devserver FuzzDynamicConfigFile ($(FUZZTIME))"
	go -C tools/devserver test -run '^$$' -fuzz '^FuzzDynamicConfigFile$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) .

demo:
	go run ./examples/noisyneighbor

# The Temporal Web UI of the dev server, seen by a real browser: opens a
# routed workflow in headless Chromium (Debian: apt-get install chromium) and
# checks the page names its shard queue and fairness key; logs the path of a
# screenshot. `make test` runs it too, and skips it without Chromium.
ui-check:
	@test -x /usr/bin/chromium || { echo "ui-check needs /usr/bin/chromium (apt-get install chromium)"; exit 1; }
	go -C tools/devserver test -count=1 -run '^TestWebUI' .
	go test -race -count=1 -v -run '^TestWebUIShowsRoutedWorkflow$$' ./e2e
