package interceptor

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// schedule is a workflow that runs n activities, one after another,
// naming queue ("" for the workflow's own), and returns the queues they
// ran on.
func schedule(ctx workflow.Context, queue string, n int) ([]string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, TaskQueue: queue})
	var ran []string
	for range n {
		var q string
		if err := workflow.ExecuteActivity(ctx, "Work").Get(ctx, &q); err != nil {
			return nil, err
		}
		ran = append(ran, q)
	}
	return ran, nil
}

// reportQueue is the activity: it reports the queue it ran on, as the
// server (here the SDK's test environment) handed it out.
func reportQueue(ctx context.Context) (string, error) { return activity.GetInfo(ctx).TaskQueue, nil }

// testWorker runs workflows in the SDK's test environment with a router
// as its worker interceptor, as a worker process made from a routed client
// does: the interceptor's own code decides each activity.
type testWorker struct {
	testsuite.WorkflowTestSuite
	router *Router
}

func newTestWorker(router *Router) *testWorker {
	w := &testWorker{router: router}
	w.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	return w
}

// runMany runs one workflow of tenant on queue that runs n activities,
// naming no queue, with header as its start's header, and returns the
// queues they ran on.
func (w *testWorker) runMany(t *testing.T, tenant, queue string, n int, header *commonpb.Header) []string {
	t.Helper()
	return w.execute(t, tenant, queue, "", n, header)
}

// run runs one workflow of tenant on queue, whose activity names
// activityQueue, and returns the queue its activity ran on.
func (w *testWorker) run(t *testing.T, tenant, queue, activityQueue string) string {
	t.Helper()
	return w.execute(t, tenant, queue, activityQueue, 1, nil)[0]
}

// execute runs schedule(activityQueue, n) as a workflow of tenant on
// queue, with header as its start's header.
func (w *testWorker) execute(t *testing.T, tenant, queue, activityQueue string, n int, header *commonpb.Header) []string {
	t.Helper()
	env := w.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []sdkinterceptor.WorkerInterceptor{w.router}})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: queue})
	env.SetHeader(header)
	require.NoError(t, env.SetMemoOnStart(map[string]any{DefaultMemoKey: tenant}))
	env.RegisterWorkflowWithOptions(schedule, workflow.RegisterOptions{Name: "UserOnboardingWorkflow"})
	env.RegisterActivityWithOptions(reportQueue, activity.RegisterOptions{Name: "Work"})
	env.ExecuteWorkflow("UserOnboardingWorkflow", activityQueue, n)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var ran []string
	require.NoError(t, env.GetWorkflowResult(&ran))
	require.Len(t, ran, n)
	return ran
}

// TestWorkerDivertsAHotTenantsActivities: a worker whose router sees a
// tenant's workflows flood its shard sends their activities to the
// tenant's overflow queue from the Enter-th on, though no client start was
// isolated: each activity it schedules counts as one of the tenant's
// starts on the shard. An activity that stays is no decision (no span, no
// metric); each one moved is traced and counted as a hot-tenant overflow,
// and the isolation as local. A shard-mate's activity, and one that names
// another queue, stay where they were; one naming the legacy queue or the
// workflow's own queue by name is moved like one naming none. The tenant
// cools down once its workflows stop.
func TestWorkerDivertsAHotTenantsActivities(t *testing.T) {
	clk := newClock()
	reader := metric.NewManualReader()
	h := saas(t, WithHotTenants(HotTenants{}), withClock(clk.Now), WithLogger(&logRecorder{}),
		WithMeterProvider(metric.NewMeterProvider(metric.WithReader(reader))))
	w := newTestWorker(h.router)
	shard := routing.TaskQueueName("saas", routing.Tenant, routing.StableShard("noisy", shards))
	overflow := routing.OverflowQueueName("saas", routing.Tenant, 0)
	run := func(tenant, activityQueue string) string {
		clk.Advance(time.Millisecond)
		return w.run(t, tenant, shard, activityQueue)
	}

	for i := 1; i < DefaultHotEnter; i++ {
		require.Equal(t, shard, run("noisy", ""), "activity %d", i)
	}
	assert.Empty(t, h.spans.Ended(), "an activity that stays on its workflow's queue is no decision")
	assert.Equal(t, overflow, run("noisy", ""), "the Enter-th activity")
	assert.Equal(t, 1, h.router.HotTenants())
	span := h.lastSpan(t)
	a := attrs(span)
	assert.Equal(t, "RouteActivity:Work", span.Name())
	assert.Equal(t, "ExecuteActivity", a[AttrStartPath].AsString())
	assert.Equal(t, "overflow", a[AttrDecision].AsString())
	assert.Equal(t, "hot_tenant", a[AttrReason].AsString())
	assert.Equal(t, overflow, a[AttrChosenQueue].AsString())
	require.Len(t, span.Events(), 1)
	assert.Equal(t, eventHotTenant, span.Events()[0].Name)
	assert.Contains(t, span.Events()[0].Attributes, AttrHotEvidence.String("local"))

	for range 5 {
		assert.Equal(t, overflow, run("noisy", ""))
	}
	assert.Equal(t, overflow, run("noisy", shard), "naming the workflow's own queue")
	assert.Equal(t, overflow, run("noisy", "main-queue"), "naming the legacy queue")
	assert.Equal(t, "elsewhere", run("noisy", "elsewhere"), "naming another queue")
	assert.Equal(t, shard, run(shardMate(t, "noisy", shards), ""), "a shard-mate stays")
	assert.Len(t, h.spans.Ended(), 8, "one span per activity moved")

	got := sums(t, reader, string(AttrDecision), string(AttrReason), string(AttrHotEvidence))
	assert.Equal(t, int64(8), got[MetricDecisions+"/overflow/hot_tenant/"])
	assert.Equal(t, int64(1), got[MetricIsolations+"///local"])
	assert.Zero(t, got[MetricDecisions+"/routed/workflow_queue/"], "only the legacy-named activity is a decision when it stays")

	clk.Advance(time.Minute)
	assert.Equal(t, shard, run("noisy", ""), "cooled down")
	assert.Zero(t, h.router.HotTenants())
}

// TestWorkerDiversionNeedsSomewhereToGo: no activity is moved, counted or
// recorded without hot-tenant isolation, with routing.NoOverflow, for a
// pinned tenant, or for a workflow already on an overflow queue (a client
// isolated it); in shadow mode the move is recorded, not made.
func TestWorkerDiversionNeedsSomewhereToGo(t *testing.T) {
	shard := routing.TaskQueueName("saas", routing.Tenant, routing.StableShard("noisy", shards))
	overflow := routing.OverflowQueueName("saas", routing.Tenant, 0)
	for _, c := range []struct {
		name  string
		cfg   routing.Config
		opts  []Option
		queue string // the workflow's
	}{
		{"without hot tenants", routing.Config{Prefix: "saas", Shards: shards}, []Option{WithoutHotTenants()}, shard},
		{"no overflow", routing.Config{Prefix: "saas", Shards: shards, Overflow: routing.NoOverflow}, nil, shard},
		{"pinned", routing.Config{Prefix: "saas", Shards: shards, Pins: map[string]string{"noisy": "noisy"}}, nil, shard},
		{"on the overflow queue", routing.Config{Prefix: "saas", Shards: shards}, nil, overflow},
		{"shadow", routing.Config{Prefix: "saas", Shards: shards}, []Option{WithShadowMode()}, shard},
	} {
		t.Run(c.name, func(t *testing.T) {
			reader := metric.NewManualReader()
			opts := append([]Option{WithHotTenants(HotTenants{}), withClock(newClock().Now), WithLogger(&logRecorder{}),
				WithMeterProvider(metric.NewMeterProvider(metric.WithReader(reader)))}, c.opts...)
			h := newHarness(t, c.cfg, opts...)
			w := newTestWorker(h.router)
			for i := range 3 * DefaultHotEnter {
				require.Equal(t, c.queue, w.run(t, "noisy", c.queue, ""), "activity %d", i)
			}
			got := sums(t, reader, string(AttrDecision))
			if c.name == "shadow" {
				assert.Equal(t, int64(2*DefaultHotEnter+1), got[MetricDecisions+"/shadow"], "what would have moved is recorded")
				assert.Equal(t, int64(1), got[MetricIsolations+"/"])
				return
			}
			assert.Zero(t, h.router.HotTenants())
			assert.Empty(t, h.spans.Ended())
			assert.Empty(t, got)
		})
	}
}

// TestWorkerCountsEachWorkflowOnce: a workflow counts once in a process,
// as a start does: at its first activity, however many it runs, and not at
// all when this process's client counted its start (its header carries
// the router's mark); another router's mark does not stop the count. A
// workflow not counted still has its activities moved while its tenant is
// hot.
func TestWorkerCountsEachWorkflowOnce(t *testing.T) {
	clk := newClock()
	h := saas(t, WithHotTenants(HotTenants{}), withClock(clk.Now), WithLogger(&logRecorder{}))
	w := newTestWorker(h.router)
	shard := routing.TaskQueueName("saas", routing.Tenant, routing.StableShard("noisy", shards))
	overflow := routing.OverflowQueueName("saas", routing.Tenant, 0)
	ours := &commonpb.Header{Fields: map[string]*commonpb.Payload{countedHeader: h.router.countMark}}
	other, err := New(h.router.reg, h.router.table.Config())
	require.NoError(t, err)
	theirs := &commonpb.Header{Fields: map[string]*commonpb.Payload{countedHeader: other.countMark}}

	ran := w.runMany(t, "noisy", shard, 3*DefaultHotEnter, nil)
	assert.Equal(t, slices.Repeat([]string{shard}, 3*DefaultHotEnter), ran, "one workflow is one start")
	for range 3 * DefaultHotEnter {
		clk.Advance(time.Millisecond)
		require.Equal(t, []string{shard}, w.runMany(t, "noisy", shard, 1, ours), "counted by this process's client")
	}
	assert.Zero(t, h.router.HotTenants())
	for i := 2; i < DefaultHotEnter; i++ {
		clk.Advance(time.Millisecond)
		require.Equal(t, []string{shard}, w.runMany(t, "noisy", shard, 1, theirs), "workflow %d", i)
	}
	clk.Advance(time.Millisecond)
	assert.Equal(t, []string{overflow}, w.runMany(t, "noisy", shard, 1, theirs), "the Enter-th workflow")
	assert.Equal(t, []string{overflow, overflow}, w.runMany(t, "noisy", shard, 2, ours), "hot: moved, though not counted")
}

// TestReplayedActivitiesAreNotCounted: an activity decided on replay is
// neither counted nor moved: replaying a flood's histories makes no tenant
// hot, and a legacy-named activity replayed while its tenant is hot still
// decides its workflow's own queue (whatever the history says, the SDK
// does not compare an activity's queue on replay).
func TestReplayedActivitiesAreNotCounted(t *testing.T) {
	h := saas(t, WithHotTenants(HotTenants{}), withClock(newClock().Now), WithLogger(&logRecorder{}))
	shard := routing.TaskQueueName("saas", routing.Tenant, routing.StableShard("noisy", shards))
	ctx := WithTenant(context.Background(), "noisy")
	for _, queue := range []string{"main-queue", ""} {
		for range 3 * DefaultHotEnter {
			s, ok := h.router.activityStart("Work", queue, shard)
			require.True(t, ok)
			s.inWorkflow, s.replaying = true, true
			out, err := h.router.route(ctx, s)
			require.NoError(t, err)
			assert.Equal(t, shard, out.taskQueue)
		}
	}
	assert.Zero(t, h.router.HotTenants())
	assert.Empty(t, h.spans.Ended())
}

// workerOf returns the queue the first activity of a workflow of tenant on
// queue goes to when worker w schedules it (naming no queue), as the
// worker interceptor's routeActivity decides it, not on replay;
// countedBefore says w's client counted the workflow's start.
func workerOf(t *testing.T, w *harness, tenant, queue string, countedBefore bool) string {
	t.Helper()
	s, ok := w.router.activityStart("Work", "", queue)
	require.True(t, ok)
	s.countedBefore = countedBefore
	out, err := w.router.route(WithTenant(context.Background(), tenant), s)
	require.NoError(t, err)
	return out.taskQueue
}

// TestUpdateWithStartCarriesTheCountedMark: an update-with-start whose
// start the detector counted (conflict policy Fail: it always creates a
// workflow) carries the router's mark in its start's header, as any
// counted start does, so that the process's workers do not count the
// workflow again; one that may attach to a running workflow (UseExisting)
// is not counted and carries none. Both carry the tenant.
func TestUpdateWithStartCarriesTheCountedMark(t *testing.T) {
	router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: 7})
	require.NoError(t, err)
	c, w := wireClient(t, router)
	for _, policy := range []enumspb.WorkflowIdConflictPolicy{enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL, enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING} {
		ctx, cancel := context.WithTimeout(WithTenant(context.Background(), "acme"), 5*time.Second)
		op, err := router.NewWithStartWorkflowOperation(ctx, c, client.StartWorkflowOptions{ID: "w", TaskQueue: "main-queue", WorkflowIDConflictPolicy: policy}, "UserOnboardingWorkflow")
		require.NoError(t, err)
		_, _ = c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op, UpdateOptions: client.UpdateWorkflowOptions{UpdateName: "u", WaitForStage: client.WorkflowUpdateStageAccepted}})
		cancel()
		var start *workflowservice.StartWorkflowExecutionRequest
		for _, m := range w.sent() {
			if req, ok := m.(*workflowservice.ExecuteMultiOperationRequest); ok && len(req.GetOperations()) > 0 {
				start = req.GetOperations()[0].GetStartWorkflow()
			}
		}
		require.NotNil(t, start, "no update-with-start was sent")
		fields := start.GetHeader().GetFields()
		assert.NotNil(t, fields[tenantHeader], policy.String())
		_, marked := fields[countedHeader]
		assert.Equal(t, policy == enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL, marked, policy.String())
	}
}

// TestActivitiesOnTheirOwnQueueNeedHotTenants: an activity bound for its
// workflow's own queue is the router's to decide only while it may move
// it, with hot-tenant isolation on; without it the worker side leaves it
// alone, as before diversion existed. A legacy-named activity is decided
// either way (it moves to the workflow's own queue).
func TestActivitiesOnTheirOwnQueueNeedHotTenants(t *testing.T) {
	const own = "saas.tenant.03"
	for _, tt := range []struct {
		opts      []Option
		wantOwn   bool
		wantQuiet bool
	}{
		{opts: nil, wantOwn: true, wantQuiet: true},
		{opts: []Option{WithoutHotTenants()}, wantOwn: false},
	} {
		router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: shards}, tt.opts...)
		require.NoError(t, err)
		for _, queue := range []string{"", own} {
			s, ok := router.activityStart("Work", queue, own)
			assert.Equal(t, tt.wantOwn, ok, "queue %q, options %d", queue, len(tt.opts))
			assert.Equal(t, tt.wantQuiet, s.quiet)
		}
		s, ok := router.activityStart("Work", "main-queue", own)
		assert.True(t, ok, "a legacy-named activity is always decided")
		assert.False(t, s.quiet)
		_, ok = router.activityStart("Work", "elsewhere", own)
		assert.False(t, ok, "another queue is not the router's")
	}
}
