# The README's test command is `make test`: the dev server (built once and
# cached), every test of every module (end-to-end tests against a real
# Temporal server included), then a short fuzz run of every fuzz target of
# the library. Each step says what it does before it starts.
#
# `make test-long` runs the same with TQROUTER_LONG=1, which turns on the
# tests that wait minutes on the SDK's own clock (e2e
# TestGroupRunReturnsFatalWorkerError: two minutes), and then fuzzes the
# server module's target, whose instrumented build compiles the whole
# Temporal server (about 5 minutes). `make test` still runs that target's
# seed corpus, as `go test` does for every fuzz target.
#
# `go test -short ./...` runs what needs no server, and builds and starts none.

# Fuzz budgets are counts of inputs, not durations. A duration -fuzztime
# races Go's fuzz coordinator (golang/go#75804, fixed in Go 1.27, not in
# 1.26.x): a run can fail with a bare "context deadline exceeded" and no
# crasher when the deadline fires while a worker is busy. A count has no
# deadline to race. 20000 inputs take 1.5 s to 8 s per target on 2 cores.
FUZZTIME ?= 20000x
FUZZMINIMIZETIME ?= 500x
FUZZ_PACKAGES := ./routing ./registry ./interceptor ./internal/ops

.PHONY: test test-long devserver unit fuzz fuzz-server demo ui-check

test: unit fuzz

test-long: export TQROUTER_LONG = 1
test-long: test fuzz-server

devserver:
	@echo "== make: the Temporal dev server of the end-to-end tests: cached under ~/.cache/tqrouter; a first build takes minutes, with a line every 20 s"
	@go run ./internal/devserver/build

unit: devserver
	@echo "== make: go test -race ./... : unit tests, then the end-to-end tests against the dev server (e2e alone takes 3-4 minutes on 2 free cores; go test prints each package when it ends)"
	go test -race -timeout 30m ./...
	@echo "== make: the server module's tests (tools/devserver: starts servers in process; its link takes a minute when not cached)"
	go -C tools/devserver test ./...

# go test -fuzz takes one target at a time; each runs FUZZTIME inputs.
fuzz:
	@echo "== make: fuzzing every target of the library, $(FUZZTIME) inputs each (each target compiles with fuzzing instrumentation first)"
	@set -e; for pkg in $(FUZZ_PACKAGES); do \
		for target in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
			go test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg; \
		done; \
	done

fuzz-server:
	@echo "== make: fuzz tools/devserver FuzzDynamicConfigFile ($(FUZZTIME)): compiling the Temporal server with fuzzing instrumentation takes about 5 minutes first"
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
	TQROUTER_UI_KEEP=1 go test -race -count=1 -v -run '^TestWebUIShowsRoutedWorkflow$$' ./e2e
