package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tqrouter/tqrouter/internal/devserver"
)

// The server of the tests that need one, started on first use and stopped
// by TestMain.
var (
	serverOnce sync.Once
	server     *devserver.Server
	serverErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if server != nil {
		if err := server.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the server:", err)
		}
	}
	os.Exit(code)
}

// testServer returns the shared Temporal dev server (or $TEMPORAL_ADDRESS).
func testServer(t *testing.T) *devserver.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Temporal server; skipped under -short")
	}
	serverOnce.Do(func() {
		// A cold build of the server takes minutes; starting it, seconds.
		// One partition per queue, as README asks of a routed layout, so
		// that doctor's other checks are seen alone; the partition check
		// has a server of its own (TestDoctorFindsSeveralPartitions).
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		server, serverErr = devserver.Start(ctx, devserver.Options{Progress: os.Stderr, DynamicConfig: devserver.SinglePartition()})
	})
	if errors.Is(serverErr, devserver.ErrShort) {
		t.Skip(serverErr)
	}
	require.NoError(t, serverErr, "no Temporal server")
	return server
}

// result is what one run of the command did.
type result struct {
	code           int
	stdout, stderr string
}

// tqrouter runs the command with args and stdin, as a user would.
func tqrouter(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	return runArgs(stdin, args...)
}

func runArgs(stdin string, args ...string) result {
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// tqrouterJSON runs the command with --output json and decodes its output.
func tqrouterJSON(t *testing.T, v any, stdin string, args ...string) result {
	t.Helper()
	r := tqrouter(t, stdin, append(args, "--output", "json")...)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), v), "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	return r
}

// collectJSON is tqrouterJSON inside require.EventuallyWithT, whose
// condition runs on another goroutine and must not stop the test.
func collectJSON(ct *assert.CollectT, v any, args ...string) result {
	r := runArgs("", append(args, "--output", "json")...)
	assert.NoError(ct, json.Unmarshal([]byte(r.stdout), v), "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	return r
}

// serverArgs are the flags that name the test server.
func serverArgs(t *testing.T) []string {
	s := testServer(t)
	return []string{"--address", s.Address(), "--namespace", s.Namespace()}
}

// uniquePrefix returns a queue prefix no other test uses, so that tests
// sharing the server never see each other's queues.
func uniquePrefix(name string) string {
	return fmt.Sprintf("%s%d", name, time.Now().UnixNano()%1e9)
}

func TestHelp(t *testing.T) {
	r := tqrouter(t, "", "help")
	require.Equal(t, exitOK, r.code)
	for _, c := range commands() {
		require.Contains(t, r.stdout, "  "+c.name+" ")
		h := tqrouter(t, "", c.name, "--help")
		require.Equal(t, exitOK, h.code, c.name)
		require.True(t, strings.HasPrefix(h.stdout, "Usage: tqrouter "+c.name), h.stdout)
		require.Contains(t, h.stdout, "\nFlags:\n  --")
		require.Equal(t, h.stdout, tqrouter(t, "", "help", c.name).stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage: tqrouter COMMAND"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"route", "--bogus"}, "flag provided but not defined: -bogus"},
		{"no prefix", []string{"route", "--shards", "4", "acme"}, "--prefix is required"},
		{"no shards", []string{"queues", "--prefix", "saas"}, "--shards is required"},
		{"bad shards", []string{"queues", "--prefix", "saas", "--shards", "2000"}, "shards must be from 1 to 1024"},
		{"bad prefix", []string{"queues", "--prefix", "sa as", "--shards", "2"}, "illegal character"},
		{"bad pin", []string{"queues", "--prefix", "saas", "--shards", "2", "--pin", "acme"}, "want TENANT=LABEL"},
		{"bad kind", []string{"queues", "--prefix", "saas", "--shards", "2", "--kind", "a.b"}, "illegal character"},
		{"bad output", []string{"queues", "--prefix", "saas", "--shards", "2", "--output", "yaml"}, "want text or json"},
		{"invalid tenant", []string{"route", "--prefix", "saas", "--shards", "2", " acme"}, "surrounding white space"},
		{"preview without counts", []string{"preview"}, "--from and --to must be from 1 to 1024"},
		{"weights without verb", []string{"weights"}, `weights needs "apply FILE" or "show"`},
		{"weights apply without file", []string{"weights", "apply", "--prefix", "saas", "--shards", "2"}, "needs one FILE"},
		{"missing weights file", []string{"weights", "apply", "--prefix", "saas", "--shards", "2", "/nonexistent/weights"}, "no such file"},
		{"zero key rate", []string{"weights", "apply", "--prefix", "saas", "--shards", "2", "--key-rate", "0", "-"}, "0 would stop"},
		{"pin twice", []string{"queues", "--prefix", "saas", "--shards", "2", "--pin", "acme=a", "--pin", "acme=b"}, `tenant "acme" is pinned twice (to "a" and "b")`},
		{"pin twice, same label", []string{"route", "--prefix", "saas", "--shards", "2", "--pin", "acme=a", "--pin", "acme=a", "acme"}, "pinned twice"},
		{"negative timeout", []string{"doctor", "--prefix", "saas", "--shards", "2", "--timeout", "-5s"}, "want a positive duration, got -5s"},
		{"zero timeout", []string{"status", "--prefix", "saas", "--shards", "2", "--timeout", "0"}, "want a positive duration, got 0"},
		{"missing profile", []string{"doctor", "--prefix", "saas", "--shards", "2", "--config-file", "/nonexistent/temporal.toml", "--profile", "prod"}, "unable to find profile prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tqrouter(t, "", tt.args...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
			require.Empty(t, r.stdout)
		})
	}
}

// TestServerErrorIsExit3: a server that cannot be reached is exit status 3,
// not a finding.
func TestServerErrorIsExit3(t *testing.T) {
	r := tqrouter(t, "", "doctor", "--address", "127.0.0.1:1", "--timeout", "2s", "--prefix", "saas", "--shards", "1")
	require.Equal(t, exitError, r.code, r.stderr)
	require.Contains(t, r.stderr, "connecting to 127.0.0.1:1")
}
