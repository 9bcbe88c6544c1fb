package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/internal/scenario"
)

// TestDemoKeep runs the demo as a user does with --keep, on a small
// scenario at production shape (2 API processes, 2 worker processes), and
// checks what it promises while the server is up: its JSON has the
// processes and a tenant_seen of 1 for every routed class with a tenant;
// the doctor and status commands it prints run as printed against the
// server and exit 0 or 1 (a finding), never 2 (usage) or 3 (server), and
// with --routed-partitions 1 and its held worker doctor finds nothing; its
// Web UI links answer 200, and the query of the shard queue's link lists
// the routed workflows that ran there.
func TestDemoKeep(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Temporal dev server")
	}
	t.Setenv(devserver.AddressEnv, "") // the demo's own server, with its UI
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// The command's real exit status: go run turns every failure into 1.
	bin := filepath.Join(t.TempDir(), "tqrouter")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tqrouter")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	cfg := scenario.Config{Seed: 3, NoisyStarts: 20, QuietTenants: 6, QuietStarts: 2, JobStarts: 3, Work: 20 * time.Millisecond,
		Slots: 8, Headroom: -1, Shards: 3, Spread: 500 * time.Millisecond, Clients: 2, WorkerProcs: 2}
	jsonFile := filepath.Join(t.TempDir(), "results.json")
	var demo syncBuffer
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, &demo, options{jsonOut: jsonFile, keep: true, dynamicConfig: map[string]any{}, routedPartitions: 1}, cfg)
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(demo.String(), "stays up until Ctrl-C") {
		select {
		case err := <-done:
			done <- err
			require.FailNow(t, "the demo ended before holding the server", "%v\n%s", err, demo.String())
		case <-ctx.Done():
			require.FailNow(t, "the demo did not finish its runs", demo.String())
		case <-tick.C:
		}
	}
	text := demo.String()
	t.Log(text)

	raw, err := os.ReadFile(jsonFile)
	require.NoError(t, err)
	var res map[string]scenario.Result
	require.NoError(t, json.Unmarshal(raw, &res))
	routed := res["routed"]
	require.Equal(t, 2, routed.Run.Clients)
	require.Equal(t, 2, routed.Run.WorkerProcs)
	require.Equal(t, cfg.Slots, routed.Run.Budget)
	for _, class := range []string{scenario.Quiet, scenario.ShardMates, scenario.Noisy} {
		require.NotNil(t, routed.Class(class).TenantSeen, class)
		require.Equal(t, 1.0, *routed.Class(class).TenantSeen, class)
	}
	require.Contains(t, text, "read their own tenant (interceptor.TenantFromContext), routed: quiet 1.00, shard_mates 1.00, noisy 1.00")

	m := regexp.MustCompile(`Temporal at (\S+), namespace ([^,\s]+)`).FindStringSubmatch(text)
	require.NotNil(t, m, "the demo names its server")
	address, namespace := m[1], m[2]
	prefix := regexp.MustCompile(`queues: prefix (\S+) `).FindStringSubmatch(text)
	require.NotNil(t, prefix, "the demo prints the prefix before the run")
	require.Contains(t, text, "  "+prefix[1]+".tenant.00 ", "and the queues")

	var commands [][]string
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "  go run ./cmd/tqrouter "); ok {
			commands = append(commands, strings.Fields(rest))
		}
	}
	require.Len(t, commands, 2, "doctor and status")
	var outputs []string
	for _, args := range commands {
		code, out := tqrouter(ctx, t, bin, args)
		require.Contains(t, []int{0, 1}, code, "tqrouter %s exited %d:\n%s", strings.Join(args, " "), code, out)
		t.Logf("tqrouter %s: exit %d\n%s", strings.Join(args, " "), code, out)
		outputs = append(outputs, out)
	}
	// With one partition per routed queue and the demo's held worker
	// polling them, the layout is healthy: doctor finds nothing (pollers
	// register within a poll or two).
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, out := tqrouter(ctx, t, bin, commands[0])
		assert.Equal(c, 0, code, "doctor on a healthy layout:\n%s", out)
	}, time.Minute, 2*time.Second)
	require.Equal(t, "doctor", commands[0][0])
	require.Contains(t, strings.Join(commands[0], " "), "--address "+address+" ")
	require.Contains(t, strings.Join(commands[0], " "), "--prefix "+prefix[1]+" ")
	require.Contains(t, outputs[0], prefix[1]+".tenant.00", "doctor describes the routed queues")
	require.Contains(t, outputs[1], "main-queue", "status describes the legacy queue")

	links := regexp.MustCompile(`http://\S+`).FindAllString(text[strings.Index(text, "Web UI"):], -1)
	require.Len(t, links, 3, "the list, the noisy tenant's shard queue and the overflow queue")
	for _, link := range links {
		resp, err := http.Get(link)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, link)
	}
	// The UI lists what its query parameter selects: the same query
	// through the API finds the routed workflows on that queue.
	u, err := url.Parse(links[1])
	require.NoError(t, err)
	query := u.Query().Get("query")
	require.Regexp(t, `^TaskQueue="`+regexp.QuoteMeta(prefix[1])+`\.tenant\.\d\d"$`, query)
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace})
	require.NoError(t, err)
	defer c.Close()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		require.NoError(ct, err)
		assert.NotEmpty(ct, resp.GetExecutions(), "workflows for %s", query)
	}, time.Minute, time.Second)
}

// tqrouter runs the tqrouter binary bin with args and returns its exit
// status and output.
func tqrouter(ctx context.Context, t *testing.T, bin string, args []string) (int, string) {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	require.NoError(t, err)
	return 0, string(out)
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex // protects buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
