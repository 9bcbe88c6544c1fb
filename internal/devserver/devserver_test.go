package devserver

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server at %s ready in %v", srv.Address(), time.Since(start))
	defer func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := srv.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}()
	if !strings.HasPrefix(srv.Address(), "127.") || srv.Namespace() != DefaultNamespace {
		t.Fatalf("unexpected address %q / namespace %q", srv.Address(), srv.Namespace())
	}

	c, err := client.DialContext(ctx, srv.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}
	nc, err := client.NewNamespaceClient(srv.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, ns := range []string{DefaultNamespace, "second"} {
		resp, err := nc.Describe(ctx, ns)
		if err != nil {
			t.Fatalf("DescribeNamespace(%q): %v", ns, err)
		}
		if got := resp.GetNamespaceInfo().GetName(); got != ns {
			t.Fatalf("DescribeNamespace(%q) returned %q", ns, got)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	c, err := client.DialContext(ctx, srv.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const queue = "fairness"
	var runs []client.WorkflowRun
	startN := func(n int, tag string, prio temporal.Priority) {
		for range n {
			r, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue, Priority: prio}, "Record", tag)
			if err != nil {
				t.Fatal(err)
			}
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
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, r := range runs {
		if err := r.Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	got := strings.Join(order, "")
	mu.Unlock()
	t.Logf("dispatch order: %s", got)
	// Two pollers may swap neighbours, so allow some slack.
	if i := strings.LastIndex(got, "P"); i > 3 {
		t.Errorf("priority tasks dispatched late (%s): priority or partition config not in effect", got)
	}
	rest := slices.DeleteFunc(strings.Split(got, ""), func(s string) bool { return s == "P" })
	if n := strings.Count(strings.Join(rest[:6], ""), "b"); n < 2 {
		t.Errorf("fairness keys not interleaved (%s): matching.enableFairness not in effect", got)
	}
}

func TestStartExistingCluster(t *testing.T) {
	t.Setenv(AddressEnv, "example.invalid:7233")
	t.Setenv(NamespaceEnv, "")
	srv, err := Start(context.Background(), Options{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Address() != "example.invalid:7233" || srv.Namespace() != "ns" {
		t.Fatalf("got %q / %q", srv.Address(), srv.Namespace())
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStartFailsFast(t *testing.T) {
	if _, err := Binary(context.Background(), os.Stderr); err != nil {
		t.Fatal(err)
	}
	t.Setenv(AddressEnv, "")
	start := time.Now()
	// An empty namespace name makes the server exit at once with an error.
	_, err := Start(context.Background(), Options{Namespaces: []string{""}})
	if err == nil {
		t.Fatal("Start succeeded, want error")
	}
	t.Logf("Start error (expected): %v", err)
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Start took %v to fail, want fast failure", elapsed)
	}
	if !strings.Contains(err.Error(), "exited during startup") || !strings.Contains(err.Error(), "namespace") {
		t.Errorf("error does not explain the failure: %v", err)
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
