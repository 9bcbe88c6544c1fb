package devserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func TestStartDevServer(t *testing.T) {
	// The first run builds the server binary, which takes minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// Force a server of our own even if TEMPORAL_ADDRESS is set.
	t.Setenv(AddressEnv, "")

	start := time.Now()
	srv, err := Start(ctx, Options{Namespaces: []string{"second"}})
	skipShort(t, err)
	require.NoError(t, err)
	t.Logf("server at %s ready in %v", srv.Address(), time.Since(start))
	defer func() {
		require.NoError(t, srv.Close())
		require.NoError(t, srv.Close(), "second Close")
	}()
	require.True(t, strings.HasPrefix(srv.Address(), "127."), "address %q", srv.Address())
	require.Equal(t, DefaultNamespace, srv.Namespace())
	require.Empty(t, srv.UIAddress(), "no UI unless Options.UI")

	c, err := client.DialContext(ctx, srv.ClientOptions())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
	require.NoError(t, err, "CheckHealth")
	nc, err := client.NewNamespaceClient(srv.ClientOptions())
	require.NoError(t, err)
	defer nc.Close()
	for _, ns := range []string{DefaultNamespace, "second"} {
		resp, err := nc.Describe(ctx, ns)
		require.NoError(t, err, "DescribeNamespace(%q)", ns)
		require.Equal(t, ns, resp.GetNamespaceInfo().GetName())
	}
}

// TestDefaultDynamicConfig checks that DefaultDynamicConfig is in effect:
// with fairness on, a backlog of 6 tasks with fairness key "a" followed by 6
// with key "b" is dispatched interleaved (FIFO would give aaaaaabbbbbb),
// after 3 tasks with a higher priority. The order is asserted within one
// queue, so the test sets SinglePartition: with Temporal's default of 4
// partitions each partition orders only its own share of the backlog.
func TestDefaultDynamicConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t.Setenv(AddressEnv, "")
	srv, err := Start(ctx, Options{DynamicConfig: SinglePartition()})
	skipShort(t, err)
	require.NoError(t, err)
	defer func() { _ = srv.Close() }()
	c, err := client.DialContext(ctx, srv.ClientOptions())
	require.NoError(t, err)
	defer c.Close()

	const queue = "fairness"
	var runs []client.WorkflowRun
	startN := func(n int, tag string, prio temporal.Priority) {
		for range n {
			r, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue, Priority: prio}, "Record", tag)
			require.NoError(t, err)
			runs = append(runs, r)
		}
	}
	startN(6, "a", temporal.Priority{FairnessKey: "a"})
	startN(6, "b", temporal.Priority{FairnessKey: "b"})
	startN(3, "P", temporal.Priority{PriorityKey: 1})

	var mu sync.Mutex
	var order []string
	record := func(_ workflow.Context, tag string) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, tag)
		return nil
	}
	w := worker.New(c, queue, worker.Options{MaxConcurrentWorkflowTaskExecutionSize: 2})
	w.RegisterWorkflowWithOptions(record, workflow.RegisterOptions{Name: "Record"})
	require.NoError(t, w.Start())
	defer w.Stop()
	for _, r := range runs {
		require.NoError(t, r.Get(ctx, nil))
	}
	mu.Lock()
	got := strings.Join(order, "")
	mu.Unlock()
	t.Logf("dispatch order: %s", got)
	// Two pollers may swap neighbours, so allow some slack.
	require.LessOrEqual(t, strings.LastIndex(got, "P"), 3,
		"priority tasks dispatched late (%s): priority or partition config not in effect", got)
	rest := slices.DeleteFunc(strings.Split(got, ""), func(s string) bool { return s == "P" })
	require.GreaterOrEqual(t, strings.Count(strings.Join(rest[:6], ""), "b"), 2,
		"fairness keys not interleaved (%s): matching.enableFairness not in effect", got)
}

func TestStartExistingCluster(t *testing.T) {
	t.Setenv(AddressEnv, "example.invalid:7233")
	t.Setenv(NamespaceEnv, "")
	srv, err := Start(context.Background(), Options{Namespace: "ns", UI: true})
	skipShort(t, err)
	require.NoError(t, err)
	require.Equal(t, "example.invalid:7233", srv.Address())
	require.Equal(t, "ns", srv.Namespace())
	require.Empty(t, srv.UIAddress(), "an existing cluster's UI is not ours to know")
	require.NoError(t, srv.Close())
}

func TestStartFailsFast(t *testing.T) {
	_, err := Binary(context.Background(), os.Stderr)
	skipShort(t, err)
	require.NoError(t, err)
	t.Setenv(AddressEnv, "")
	start := time.Now()
	// An empty namespace name makes the server exit at once with an error.
	_, err = Start(context.Background(), Options{Namespaces: []string{""}})
	require.Error(t, err)
	t.Logf("Start error (expected): %v", err)
	require.Less(t, time.Since(start), 10*time.Second, "Start took too long to fail")
	require.ErrorContains(t, err, "exited during startup")
	require.ErrorContains(t, err, "namespace")
}

func TestServerArgs(t *testing.T) {
	args := serverArgs(Options{
		DynamicConfig:     map[string]any{"matching.numTaskqueueReadPartitions": 4},
		DynamicConfigFile: "/etc/dc.yaml",
		Namespaces:        []string{"second"},
	}, "/tmp/pid")
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"--pid-file /tmp/pid",
		"--dynamic-config-value matching.numTaskqueueReadPartitions=4",
		"--dynamic-config-file /etc/dc.yaml",
		"--namespace second",
	} {
		require.Contains(t, joined, want)
	}
	require.NotContains(t, joined, "numTaskqueueWritePartitions", "the server's default partitions, unless asked")
}

// TestStartWithUI checks that Options.UI gives a Web UI on the server's
// loopback address that reaches the server: the UI's HTTP API lists the
// server's namespaces.
func TestStartWithUI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t.Setenv(AddressEnv, "")
	srv, err := Start(ctx, Options{UI: true, Namespaces: []string{"second"}})
	skipShort(t, err)
	require.NoError(t, err)
	defer func() { require.NoError(t, srv.Close()) }()

	uiHost, _, err := net.SplitHostPort(srv.UIAddress())
	require.NoError(t, err)
	host, _, err := net.SplitHostPort(srv.Address())
	require.NoError(t, err)
	require.Equal(t, host, uiHost)

	resp, err := http.Get("http://" + srv.UIAddress() + "/api/v1/namespaces/second")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var ns struct {
		NamespaceInfo struct{ Name string } `json:"namespaceInfo"`
	}
	require.NoError(t, json.Unmarshal(body, &ns), string(body))
	require.Equal(t, "second", ns.NamespaceInfo.Name)
}

// TestDynamicConfigFile gives the routed queues one partition through a
// file and every other queue the server's default of 4, as the doc of
// Options.DynamicConfigFile says, and reads the partition counts back from
// the server.
func TestDynamicConfigFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t.Setenv(AddressEnv, "")
	file := filepath.Join(t.TempDir(), "dynamicconfig.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
matching.numTaskqueueReadPartitions:
  - value: 1
    constraints: {taskQueueName: saas.tenant.00}
matching.numTaskqueueWritePartitions:
  - value: 1
    constraints: {taskQueueName: saas.tenant.00}
`), 0o644))
	srv, err := Start(ctx, Options{DynamicConfigFile: file})
	skipShort(t, err)
	require.NoError(t, err)
	defer func() { require.NoError(t, srv.Close()) }()
	c, err := client.DialContext(ctx, srv.ClientOptions())
	require.NoError(t, err)
	defer c.Close()

	for queue, want := range map[string]int{"saas.tenant.00": 1, "main-queue": 4} {
		resp, err := c.WorkflowService().ListTaskQueuePartitions(ctx, &workflowservice.ListTaskQueuePartitionsRequest{
			Namespace: srv.Namespace(),
			TaskQueue: &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		})
		require.NoError(t, err)
		require.Len(t, resp.GetWorkflowTaskQueuePartitions(), want, "workflow partitions of %s", queue)
		require.Len(t, resp.GetActivityTaskQueuePartitions(), want, "activity partitions of %s", queue)
	}
}

// TestServerArgsPartitions checks that a started server has Temporal's
// default partition count unless the caller asks for one partition.
func TestServerArgsPartitions(t *testing.T) {
	has := func(args []string, kv string) bool { return slices.Contains(args, kv) }
	def := serverArgs(Options{}, "pid")
	for _, a := range def {
		if strings.Contains(a, "Partitions") {
			t.Errorf("default server args set partitions: %s", a)
		}
	}
	if !has(def, "matching.enableFairness=true") {
		t.Errorf("fairness not on by default: %v", def)
	}
	one := serverArgs(Options{DynamicConfig: SinglePartition()}, "pid")
	for _, kv := range []string{"matching.numTaskqueueReadPartitions=1", "matching.numTaskqueueWritePartitions=1"} {
		if !has(one, kv) {
			t.Errorf("SinglePartition: %s missing from %v", kv, one)
		}
	}
}

// skipShort skips t when Start or Binary refused to build or start a server
// because the tests run with -short.
func skipShort(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrShort) {
		t.Skip(err)
	}
}
