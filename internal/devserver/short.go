package devserver

import (
	"errors"
	"flag"
	"testing"
)

// ErrShort is returned by [Start] and [Binary] in a test binary run with
// `go test -short`: tests that need a Temporal server skip under -short (check
// with errors.Is and call t.Skip), so that `go test -short ./...` builds and
// starts no server and uses no existing cluster, $TEMPORAL_ADDRESS included.
var ErrShort = errors.New("devserver: go test -short: no Temporal server is built, started or used")

// shortTest reports whether this is a test binary run with -short. It
// parses the command line if the test's flags are not parsed yet, as
// testing.M.Run would, because a TestMain may start a server before calling
// Run.
func shortTest() bool {
	if !testing.Testing() {
		return false
	}
	if !flag.Parsed() {
		flag.Parse()
	}
	return testing.Short()
}
