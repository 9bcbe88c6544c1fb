package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
	"github.com/tqrouter/tqrouter/workers"
)

// longEnv names the environment variable that turns on the tests only a long
// run needs (`make test-long` sets it): the ones that wait minutes for
// something the SDK or server does on its own clock.
const longEnv = "TQROUTER_LONG"

// skipUnlessLong skips t unless $TQROUTER_LONG is set; why says what makes
// the test long.
func skipUnlessLong(t *testing.T, why string) {
	t.Helper()
	if os.Getenv(longEnv) == "" {
		t.Skipf("%s: runs in a long run only (%s=1, make test-long)", why, longEnv)
	}
}

// dial returns a client of the test server with the given interceptors.
func dial(t testing.TB, interceptors ...sdkinterceptor.ClientInterceptor) client.Client {
	t.Helper()
	return dialWith(t, nil, interceptors...)
}

// dialWith is dial with a data converter (nil: the SDK's default).
func dialWith(t testing.TB, dc converter.DataConverter, interceptors ...sdkinterceptor.ClientInterceptor) client.Client {
	t.Helper()
	opts := server.ClientOptions()
	opts.DataConverter = dc
	opts.Interceptors = interceptors
	c, err := client.Dial(opts)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// newRouter returns a router for the product's registry and a client using it.
func newRouter(t *testing.T, cfg routing.Config, opts ...interceptor.Option) (*interceptor.Router, client.Client) {
	t.Helper()
	router, err := interceptor.New(registry.Default(), cfg, opts...)
	require.NoError(t, err)
	return router, dial(t, router)
}

// pollRoutedQueues runs the app's workers on every queue of the router's
// table. Their client has the router too, as in a real deployment, so the
// workers run its worker side (children, continue-as-new, activities).
func pollRoutedQueues(t *testing.T, router *interceptor.Router) {
	t.Helper()
	pollRoutedQueuesWith(t, router, worker.Options{})
}

// pollRoutedQueuesWith is pollRoutedQueues with the workers' options.
func pollRoutedQueuesWith(t *testing.T, router *interceptor.Router, opts worker.Options) {
	t.Helper()
	pollRoutedQueuesOn(t, dial(t, router), router, opts)
}

// pollRoutedQueuesOn is pollRoutedQueuesWith on the workers' own client c
// (say, with a data converter).
func pollRoutedQueuesOn(t *testing.T, c client.Client, router *interceptor.Router, opts worker.Options) {
	t.Helper()
	var queues []string
	for _, kind := range []routing.QueueKind{routing.Tenant, routing.Jobs} {
		q, err := router.Table().PollQueues(kind)
		require.NoError(t, err)
		queues = append(queues, q...)
	}
	g, err := workers.New(c, queues, opts, saasapp.Register)
	require.NoError(t, err)
	require.NoError(t, g.Start())
	t.Cleanup(g.Stop)
}

// history returns the full event history of a workflow run.
func history(t *testing.T, c client.Client, workflowID, runID string) *historypb.History {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, e)
	}
	require.NotEmpty(t, h.Events)
	return h
}

// recorded is what the server recorded of a workflow execution.
type recorded struct {
	TaskQueue string
	Priority  *commonpb.Priority
}

func describe(t *testing.T, c client.Client, workflowID string) recorded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	require.NoError(t, err)
	return recorded{
		TaskQueue: resp.GetExecutionConfig().GetTaskQueue().GetName(),
		Priority:  resp.GetWorkflowExecutionInfo().GetPriority(),
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func uniqueID(_ *testing.T, name string) string {
	return name + "-" + time.Now().Format("150405.000000000")
}

// runParent runs TenantProvisioningWorkflow for tenant, started on
// main-queue with a child UserOnboardingWorkflow named on childQueue, and
// returns its ID, its run and what it reported.
func runParent(t *testing.T, c client.Client, tenant, name, childQueue string) (string, client.WorkflowRun, saasapp.Output) {
	t.Helper()
	ctx := interceptor.WithTenant(testContext(t), tenant)
	id := uniqueID(t, name)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue"}, saasapp.TenantProvisioningWorkflow,
		saasapp.Input{Child: "UserOnboardingWorkflow", ChildQueue: childQueue})
	require.NoError(t, err)
	var out saasapp.Output
	require.NoError(t, run.Get(ctx, &out))
	return id, run, out
}
