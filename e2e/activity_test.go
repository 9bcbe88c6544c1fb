package e2e

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/internal/vectors"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// TestActivityOnLegacyQueueFollowsWorkflow: workflow code that names
// main-queue for its activity (code written before routing) has it run on
// the workflow's own shard, where workers are; no worker polls main-queue
// here, so an activity left there would never run. The activity task
// carries the workflow's fairness key; the workers take no eager
// activities, which skip the queue (and the key: the SDK's eager response
// has none). The history replays.
func TestActivityOnLegacyQueueFollowsWorkflow(t *testing.T) {
	const shards = 7
	spans := tracetest.NewSpanRecorder()
	router, c := newRouter(t, routing.Config{Prefix: "saas", Shards: shards},
		interceptor.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))))
	pollRoutedQueuesWith(t, router, worker.Options{DisableEagerActivities: true})
	want := vectors.Queue(t, "acme", shards)

	ctx := interceptor.WithTenant(testContext(t), "acme")
	id := uniqueID(t, "legacy-activity")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow,
		saasapp.Input{ActivityQueue: "main-queue"})
	require.NoError(t, err)
	var out saasapp.Output
	require.NoError(t, run.Get(ctx, &out))
	assert.Equal(t, want, out.ActivityQueue)
	assert.Equal(t, "acme", out.Tenant, "the activity knows its tenant")
	assert.Equal(t, "acme", out.ActivityFairnessKey, "the server gave the activity task the workflow's fairness key")

	h := history(t, c, id, run.GetRunID())
	scheduled := 0
	for _, e := range h.GetEvents() {
		if e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED {
			scheduled++
			assert.Equal(t, want, e.GetActivityTaskScheduledEventAttributes().GetTaskQueue().GetName(), "the server scheduled it on the shard")
		}
	}
	assert.Equal(t, 1, scheduled)
	replay(t, router, h)

	// The worker traced the decision once; the replay did not trace again.
	var traced []sdktrace.ReadOnlySpan
	for _, span := range spans.Ended() {
		if span.Name() == "RouteActivity:Work" {
			traced = append(traced, span)
		}
	}
	require.Len(t, traced, 1)
	a := map[attribute.Key]attribute.Value{}
	for _, kv := range traced[0].Attributes() {
		a[kv.Key] = kv.Value
	}
	assert.Equal(t, "routed", a[interceptor.AttrDecision].AsString())
	assert.Equal(t, "main-queue", a[interceptor.AttrOriginalQueue].AsString())
	assert.Equal(t, want, a[interceptor.AttrChosenQueue].AsString())
	assert.Equal(t, "workflow_queue", a[interceptor.AttrReason].AsString())
	// printf acme | sha256sum | cut -c1-16
	assert.Equal(t, "822b33ad87c148a0", a[interceptor.AttrTenantHash].AsString())

	// The worker's span joined the trace of the start's routing decision
	// (it crossed to the worker in the router's header), instead of
	// starting a root span of its own.
	var start sdktrace.ReadOnlySpan
	for _, span := range spans.Ended() {
		if span.Name() == "RouteWorkflow:UserOnboardingWorkflow" {
			start = span
		}
	}
	require.NotNil(t, start)
	assert.Equal(t, start.SpanContext().TraceID(), traced[0].SpanContext().TraceID())
	assert.Equal(t, start.SpanContext().SpanID(), traced[0].Parent().SpanID())
}

// TestStandaloneActivityIsRouted: a client's ExecuteActivity naming
// main-queue runs on the tenant's shard with the tenant's fairness key, and
// a refused one leaves no activity on the server.
func TestStandaloneActivityIsRouted(t *testing.T) {
	const shards = 7
	reg := registry.Default()
	require.NoError(t, reg.RegisterActivity(saasapp.Work, routing.Tenant))
	router, err := interceptor.New(reg, routing.Config{Prefix: "saas", Shards: shards})
	require.NoError(t, err)
	c := dial(t, router)
	pollRoutedQueues(t, router)
	want := vectors.Queue(t, "0", shards)

	ctx := testContext(t)
	id := uniqueID(t, "standalone")
	opts := client.StartActivityOptions{ID: id, TaskQueue: "main-queue", StartToCloseTimeout: time.Minute}
	handle, err := c.ExecuteActivity(interceptor.WithTenant(ctx, "0"), opts, saasapp.Work, time.Duration(0))
	require.NoError(t, err)
	var out saasapp.Output
	require.NoError(t, handle.Get(ctx, &out))
	assert.Equal(t, want, out.ActivityQueue)
	assert.Equal(t, "0", out.Tenant, "the tenant header reached the activity")
	assert.Equal(t, "0", out.ActivityFairnessKey, "the server dispatched it with the tenant's fairness key")
	desc, err := handle.Describe(ctx, client.DescribeActivityOptions{})
	require.NoError(t, err)
	assert.Equal(t, want, desc.TaskQueue)
	assert.Equal(t, "0", desc.Priority.FairnessKey)

	refused := uniqueID(t, "standalone-refused")
	opts.ID = refused
	_, err = c.ExecuteActivity(ctx, opts, saasapp.Work, time.Duration(0))
	require.ErrorIs(t, err, interceptor.ErrMissingTenant)
	_, err = c.GetActivityHandle(client.GetActivityHandleOptions{ActivityID: refused}).Describe(ctx, client.DescribeActivityOptions{})
	var notFound *serviceerror.NotFound
	assert.True(t, errors.As(err, &notFound), "activity %s must not exist, got %v", refused, err)
}
