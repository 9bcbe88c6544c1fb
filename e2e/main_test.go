// Package e2e proves the router against a real Temporal server: every claim
// about the queue and priority of a workflow is read back from the server.
//
// The server is the embedded dev server of tools/devserver (built once and
// cached), or an existing cluster named by $TEMPORAL_ADDRESS. Under
// `go test -short` no test here runs, and no server is built or started.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tqrouter/tqrouter/internal/devserver"
)

var server *devserver.Server

func TestMain(m *testing.M) {
	// A cold build of the server takes minutes; starting it, seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	s, err := devserver.Start(ctx, devserver.Options{Progress: os.Stderr})
	cancel()
	if errors.Is(err, devserver.ErrShort) {
		// Every test here needs the server: none runs under -short.
		fmt.Println("e2e: every test needs a Temporal server: skipped under -short")
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: no Temporal server:", err)
		os.Exit(1)
	}
	server = s
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the server:", err)
	}
	os.Exit(code)
}
