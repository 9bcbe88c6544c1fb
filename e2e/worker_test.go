package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/internal/vectors"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
	"github.com/tqrouter/tqrouter/workers"
)

// childStarted returns the ID of the child a parent's history started.
func childStarted(t *testing.T, h *historypb.History) string {
	t.Helper()
	for _, e := range h.GetEvents() {
		if e.GetEventType() == enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED {
			return e.GetChildWorkflowExecutionStartedEventAttributes().GetWorkflowExecution().GetWorkflowId()
		}
	}
	t.Fatal("no child started")
	return ""
}

// replay replays histories with the router as worker interceptor, as a
// worker would after a restart.
func replay(t *testing.T, router *interceptor.Router, histories ...*historypb.History) {
	t.Helper()
	replayWith(t, nil, router, histories...)
}

// replayWith is replay with the workers' data converter (nil: the default).
func replayWith(t *testing.T, dc converter.DataConverter, router *interceptor.Router, histories ...*historypb.History) {
	t.Helper()
	replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		Interceptors:  []sdkinterceptor.WorkerInterceptor{router},
		DataConverter: dc,
	})
	require.NoError(t, err)
	saasapp.RegisterWorkflows(replayer)
	for _, h := range histories {
		require.NoError(t, replayer.ReplayWorkflowHistory(nil, h))
	}
}

// TestChildOnLegacyQueueFollowsParentTenant: a parent on a tenant shard
// starts a child naming main-queue; the server shows the child on the
// parent's shard with the parent's fairness key, and both histories replay.
func TestChildOnLegacyQueueFollowsParentTenant(t *testing.T) {
	const shards = 7
	router, c := newRouter(t, routing.Config{Prefix: "saas", Shards: shards})
	pollRoutedQueues(t, router)
	want := vectors.Queue(t, "acme", shards)

	for _, childQueue := range []string{"main-queue", ""} {
		id, run, out := runParent(t, c, "acme", "parent", childQueue)

		parentHistory := history(t, c, id, run.GetRunID())
		childID := childStarted(t, parentHistory)
		child := describe(t, c, childID)
		assert.Equal(t, want, child.TaskQueue, "child (queue %q) on the parent's shard", childQueue)
		assert.Equal(t, "acme", child.Priority.GetFairnessKey(), "child carries the parent's fairness key")
		require.NotNil(t, out.Child)
		assert.Equal(t, want, out.Child.WorkflowQueue)
		assert.Equal(t, "acme", out.Child.Tenant, "the child's activity knows the tenant")

		replay(t, router, parentHistory, history(t, c, childID, ""))
	}
}

// TestContinueAsNewStaysRouted: a run that continues as new naming
// main-queue (code written before routing) stays on its tenant's shard.
func TestContinueAsNewStaysRouted(t *testing.T) {
	const shards = 7
	router, c := newRouter(t, routing.Config{Prefix: "saas", Shards: shards})
	pollRoutedQueues(t, router)
	want := vectors.Queue(t, "acme", shards)

	ctx := interceptor.WithTenant(testContext(t), "acme")
	id := uniqueID(t, "can")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow,
		saasapp.Input{ContinueAsNewOn: "main-queue"})
	require.NoError(t, err)
	var out saasapp.Output
	require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &out)) // follows the chain
	assert.Equal(t, want, out.WorkflowQueue)
	assert.Equal(t, "acme", out.Tenant)

	last := describe(t, c, id) // the latest run
	assert.Equal(t, want, last.TaskQueue)
	assert.Equal(t, "acme", last.Priority.GetFairnessKey())

	first := history(t, c, id, run.GetRunID())
	can := first.GetEvents()[len(first.GetEvents())-1].GetWorkflowExecutionContinuedAsNewEventAttributes()
	require.NotNil(t, can, "the first run continued as new")
	assert.Equal(t, want, can.GetTaskQueue().GetName(), "continue-as-new named the routed queue")
	replay(t, router, first, history(t, c, id, ""))
}

// TestPinnedTenantRunsOnItsOwnQueue: a hot tenant pinned to a dedicated
// queue runs there, with its fairness key, and its children follow it.
func TestPinnedTenantRunsOnItsOwnQueue(t *testing.T) {
	router, c := newRouter(t, routing.Config{Prefix: "pin", Shards: 4, Pins: map[string]string{"acme": "acme"}})
	polled, err := router.Table().PollQueues(routing.Tenant)
	require.NoError(t, err)
	require.Contains(t, polled, "pin.tenant.pinned-acme", "the tenant kind's workers poll the pinned queue")
	pollRoutedQueues(t, router)

	id, _, out := runParent(t, c, "acme", "pinned", "main-queue")
	got := describe(t, c, id)
	assert.Equal(t, "pin.tenant.pinned-acme", got.TaskQueue)
	assert.Equal(t, "acme", got.Priority.GetFairnessKey())
	require.NotNil(t, out.Child)
	assert.Equal(t, "pin.tenant.pinned-acme", out.Child.WorkflowQueue)

	// Another tenant still goes to its shard.
	other := interceptor.WithTenant(testContext(t), "tenant-ü-☃")
	run, err := c.ExecuteWorkflow(other, client.StartWorkflowOptions{TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
	require.NoError(t, err)
	require.NoError(t, run.Get(other, &out))
	assert.Equal(t, routing.TaskQueueName("pin", routing.Tenant, routing.StableShard("tenant-ü-☃", 4)), out.WorkflowQueue)
}

// TestTenantlessLegacyWorkflowKeepsRunning: a workflow started before the
// rollout, with no tenant, runs on a worker that has the router; its child
// and its continue-as-new name main-queue. They stay there (its workers are
// kept until it drains) instead of failing the running workflow.
func TestTenantlessLegacyWorkflowKeepsRunning(t *testing.T) {
	queue := uniqueID(t, "legacy-main") // a legacy queue of this test's own
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "legacy", Shards: 4}, interceptor.WithLegacyQueues(queue))
	require.NoError(t, err)
	g, err := workers.New(dial(t, router), []string{queue}, worker.Options{}, saasapp.Register)
	require.NoError(t, err)
	require.NoError(t, g.Start())
	t.Cleanup(g.Stop)

	ctx := testContext(t)
	plain := dial(t) // a call site from before the rollout
	id := uniqueID(t, "tenantless")
	run, err := plain.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, saasapp.TenantProvisioningWorkflow,
		saasapp.Input{Child: "UserOnboardingWorkflow", ChildQueue: queue, ContinueAsNewOn: queue})
	require.NoError(t, err)
	var out saasapp.Output
	require.NoError(t, plain.GetWorkflow(ctx, id, "").Get(ctx, &out), "the running workflow must not fail")
	assert.Equal(t, queue, out.WorkflowQueue, "continue-as-new stayed on the legacy queue")
	assert.Equal(t, queue, describe(t, plain, childStarted(t, history(t, plain, id, run.GetRunID()))).TaskQueue, "the child stayed too")
}
