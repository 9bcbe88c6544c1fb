package interceptor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tqrouter/tqrouter/internal/vectors"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// The tests of this file try to make a start cross tenants, as an attacker
// or a careless caller would: every source of a tenant that is present must
// name the same valid tenant, on the client and on the worker, whatever
// queue the start names.

// tenantHeaderOf is a header that carries tenant as the router writes it.
func tenantHeaderOf(t *testing.T, tenant string) map[string]*commonpb.Payload {
	t.Helper()
	p, err := jsonStringPayload(tenant)
	require.NoError(t, err)
	return map[string]*commonpb.Payload{tenantHeader: p}
}

// routedInfo is the workflow.Info of a workflow routed for acme to its
// shard: memo and fairness key both say acme.
func routedInfo(t *testing.T) *workflow.Info {
	t.Helper()
	return &workflow.Info{
		TaskQueueName: vectors.Queue(t, "acme", shards),
		Priority:      temporal.Priority{FairnessKey: "acme"},
		Memo:          &commonpb.Memo{Fields: map[string]*commonpb.Payload{DefaultMemoKey: mustPayload(t, "acme")}},
	}
}

// TestWorkerRefusesAnUntrustworthyHeader: the header is input like any
// other. An empty or invalid one is invalid, never "no tenant"; one that
// disagrees with the memo or the fairness key is a mismatch; either way
// the workflow has no tenant, only an error that names none.
func TestWorkerRefusesAnUntrustworthyHeader(t *testing.T) {
	h := saas(t)
	for _, tt := range []struct {
		name   string
		header string
		want   error
	}{
		{"empty", "", ErrInvalidTenant},
		{"padded", " acme ", ErrInvalidTenant},
		{"NUL", "acme\x00", ErrInvalidTenant},
		{"4 MB", strings.Repeat("a", 4<<20), ErrInvalidTenant},
		{"another tenant", "victim", ErrTenantMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tenant, err := h.router.workflowTenant(tenantHeaderOf(t, tt.header), routedInfo(t))
			require.ErrorIs(t, err, tt.want)
			assert.ErrorIs(t, err, ErrMissingTenant, "the workflow's tenant cannot be read")
			assert.Empty(t, tenant)
			assert.NotContains(t, err.Error(), "victim")
			assert.NotContains(t, err.Error(), "acme")
			assert.Equal(t, 1, strings.Count(err.Error(), "tqrouter:"), err.Error())
		})
	}

	// The fairness key alone refutes a header, and so does a derived one.
	info := routedInfo(t)
	info.Memo = nil
	_, err := h.router.workflowTenant(tenantHeaderOf(t, "victim"), info)
	assert.ErrorIs(t, err, ErrTenantMismatch)
	long := strings.Repeat("l", 100)
	info.Priority.FairnessKey = routing.FairnessKey(long)
	info.TaskQueueName = routing.TaskQueueName("saas", routing.Tenant, routing.StableShard(long, shards))
	_, err = h.router.workflowTenant(tenantHeaderOf(t, "victim"), info)
	assert.ErrorIs(t, err, ErrTenantMismatch, "a derived key is the hash of one tenant only")
	tenant, err := h.router.workflowTenant(tenantHeaderOf(t, long), info)
	require.NoError(t, err)
	assert.Equal(t, long, tenant)

	// Sources that agree give the tenant.
	tenant, err = h.router.workflowTenant(tenantHeaderOf(t, "acme"), routedInfo(t))
	require.NoError(t, err)
	assert.Equal(t, "acme", tenant)
}

// runParent runs, in the SDK's test environment with the router as the
// worker interceptor, a workflow on queue with the given start header and
// memo, whose code starts a child UserOnboardingWorkflow on childQueue; it
// returns the queue the child ran on, or the parent's error.
func runParent(t *testing.T, router *Router, queue string, header map[string]*commonpb.Payload, memo map[string]any, childQueue string) (string, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []sdkinterceptor.WorkerInterceptor{router}})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: queue})
	env.SetHeader(&commonpb.Header{Fields: header})
	require.NoError(t, env.SetMemoOnStart(memo))
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) (string, error) {
		return workflow.GetInfo(ctx).TaskQueueName, nil
	}, workflow.RegisterOptions{Name: "UserOnboardingWorkflow"})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) (string, error) {
		ctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{TaskQueue: childQueue})
		var q string
		err := workflow.ExecuteChildWorkflow(ctx, "UserOnboardingWorkflow").Get(ctx, &q)
		return q, err
	}, workflow.RegisterOptions{Name: "Parent"})
	env.ExecuteWorkflow("Parent")
	require.True(t, env.IsWorkflowCompleted())
	if err := env.GetWorkflowError(); err != nil {
		return "", err
	}
	var q string
	require.NoError(t, env.GetWorkflowResult(&q))
	return q, nil
}

// TestChildOfAnUntrustworthyWorkflowIsRefused: a workflow on acme's shard
// whose memo says acme starts a child on main-queue. With an empty header
// the child used to start on main-queue, with no tenant and no error; with
// the header "victim" it went to victim's shard. Both are refused now, and
// the child of a workflow whose sources agree goes to its tenant's shard.
func TestChildOfAnUntrustworthyWorkflowIsRefused(t *testing.T) {
	h := saas(t)
	queue := vectors.Queue(t, "acme", shards)
	memo := map[string]any{DefaultMemoKey: "acme"}

	got, err := runParent(t, h.router, queue, tenantHeaderOf(t, ""), memo, "main-queue")
	require.Error(t, err, "the child started on %q", got)
	assert.Contains(t, err.Error(), "invalid tenant ID")

	got, err = runParent(t, h.router, queue, tenantHeaderOf(t, "victim"), memo, "main-queue")
	require.Error(t, err, "the child started on %q", got)
	assert.Contains(t, err.Error(), "tenant sources disagree")
	assert.NotContains(t, err.Error(), "victim")

	got, err = runParent(t, h.router, queue, tenantHeaderOf(t, "acme"), memo, "main-queue")
	require.NoError(t, err)
	assert.Equal(t, queue, got)
}

// victimPropagator is a context propagator that writes the router's header,
// as a careless (or hostile) one might: the SDK runs propagators after
// every interceptor, so what it writes is what goes on the wire.
type victimPropagator struct{}

func (victimPropagator) Inject(_ context.Context, w workflow.HeaderWriter) error {
	p, err := jsonStringPayload("victim")
	w.Set(tenantHeader, p)
	return err
}

func (victimPropagator) InjectFromWorkflow(_ workflow.Context, w workflow.HeaderWriter) error {
	return victimPropagator{}.Inject(context.Background(), w)
}

func (victimPropagator) Extract(ctx context.Context, _ workflow.HeaderReader) (context.Context, error) {
	return ctx, nil
}

func (victimPropagator) ExtractToWorkflow(ctx workflow.Context, _ workflow.HeaderReader) (workflow.Context, error) {
	return ctx, nil
}

// TestPropagatorCannotMoveAWorkflowToAnotherTenant: a real SDK client with
// a ContextPropagator that writes "tqrouter-tenant" sends victim's header
// on acme's start; the worker reads that start as the server records it
// and refuses to give the workflow a tenant, because its fairness key (and,
// for a long ID, its memo) still says acme.
func TestPropagatorCannotMoveAWorkflowToAnotherTenant(t *testing.T) {
	router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: shards})
	require.NoError(t, err)
	w := &wire{}
	c := dialWire(t, w, client.Options{Interceptors: []sdkinterceptor.ClientInterceptor{router}, ContextPropagators: []workflow.ContextPropagator{victimPropagator{}}})

	long := strings.Repeat("l", 100)
	for _, tenant := range []string{"acme", long} {
		_, err = c.ExecuteWorkflow(WithTenant(context.Background(), tenant), client.StartWorkflowOptions{TaskQueue: "main-queue"}, "UserOnboardingWorkflow")
		require.NoError(t, err)
	}
	sent := w.sent()
	require.Len(t, sent, 2)
	for _, m := range sent {
		req := m.(*workflowservice.StartWorkflowExecutionRequest)
		var onWire string
		require.NoError(t, router.converter().FromPayload(req.GetHeader().GetFields()[tenantHeader], &onWire))
		require.Equal(t, "victim", onWire, "the propagator wrote the header last")

		info := &workflow.Info{TaskQueueName: req.GetTaskQueue().GetName(), Memo: req.GetMemo()}
		info.Priority.FairnessKey = req.GetPriority().GetFairnessKey()
		tenant, err := router.workflowTenant(req.GetHeader().GetFields(), info)
		assert.ErrorIs(t, err, ErrTenantMismatch)
		assert.Empty(t, tenant)
	}
}

// TestStartOnARoutedQueueIsChecked: a start that names a routed queue
// itself is checked like any other: its tenant sources must agree, and it
// carries its tenant's fairness key and header, never the caller's key.
func TestStartOnARoutedQueueIsChecked(t *testing.T) {
	acme := WithTenant(context.Background(), "acme")
	queue := vectors.Queue(t, "acme", shards)

	h := saas(t)
	_, err := h.execute(acme, "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: queue, Memo: map[string]any{DefaultMemoKey: "victim"}})
	require.ErrorIs(t, err, ErrTenantMismatch)
	assert.Zero(t, h.next.calls)

	got, err := h.execute(acme, "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: queue, Priority: temporal.Priority{PriorityKey: 2, FairnessKey: "victim", FairnessWeight: 1000}})
	require.NoError(t, err)
	assert.Equal(t, queue, got.TaskQueue, "the queue the caller named is kept")
	assert.Equal(t, temporal.Priority{PriorityKey: 2, FairnessKey: "acme", FairnessWeight: 1000}, got.Priority, "the caller's key is replaced by its tenant's")

	// The tenant's weight function decides the weight, as on a legacy queue.
	h = saas(t, WithWeightFunc(func(context.Context, string) float32 { return 2 }))
	got, err = h.execute(acme, "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "saas.tenant.overflow-00", Priority: temporal.Priority{FairnessKey: "victim", FairnessWeight: 1000}})
	require.NoError(t, err)
	assert.Equal(t, temporal.Priority{FairnessKey: "acme", FairnessWeight: 2}, got.Priority)

	// A fairness key on a tenant queue names a tenant: without one from a
	// trusted source the start is refused.
	h = saas(t)
	_, err = h.execute(context.Background(), "TokenCleanupWorkflow", client.StartWorkflowOptions{TaskQueue: queue, Priority: temporal.Priority{FairnessKey: "victim"}})
	require.ErrorIs(t, err, ErrMissingTenant)
	_, err = h.execute(context.Background(), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: queue})
	require.ErrorIs(t, err, ErrMissingTenant)
	assert.Zero(t, h.next.calls)
	// A job warming a tenant queue, with no tenant and no key, is let through.
	got, err = h.execute(context.Background(), "TokenCleanupWorkflow", client.StartWorkflowOptions{TaskQueue: queue})
	require.NoError(t, err)
	assert.Equal(t, queue, got.TaskQueue)

	// The rule holds on any queue: sources that disagree are refused on an
	// explicit queue too, and an invalid context value too.
	calls := h.next.calls
	for _, q := range []string{"billing", "saas.jobs.00", "main-queue"} {
		_, err = h.execute(acme, "SomeOtherWorkflow", client.StartWorkflowOptions{TaskQueue: q, Memo: map[string]any{DefaultMemoKey: "victim"}})
		assert.ErrorIs(t, err, ErrTenantMismatch, q)
		_, err = h.execute(WithTenant(context.Background(), " acme "), "SomeOtherWorkflow", client.StartWorkflowOptions{TaskQueue: q})
		assert.ErrorIs(t, err, ErrInvalidTenant, q)
	}
	assert.Equal(t, calls, h.next.calls)
}

// TestWireCarriesTheTenantOfARoutedQueueStart: what a real SDK client sends
// for a start that names acme's shard with victim's fairness key.
func TestWireCarriesTheTenantOfARoutedQueueStart(t *testing.T) {
	router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: shards})
	require.NoError(t, err)
	c, w := wireClient(t, router)
	queue := vectors.Queue(t, "acme", shards)
	_, err = c.ExecuteWorkflow(WithTenant(context.Background(), "acme"), client.StartWorkflowOptions{TaskQueue: queue, Priority: temporal.Priority{FairnessKey: "victim"}}, "UserOnboardingWorkflow")
	require.NoError(t, err)
	sent := w.sent()
	require.Len(t, sent, 1)
	req := sent[0].(*workflowservice.StartWorkflowExecutionRequest)
	assert.Equal(t, queue, req.GetTaskQueue().GetName())
	assert.Equal(t, "acme", req.GetPriority().GetFairnessKey())
	tenant, ok, err := router.headerTenant(req.GetHeader().GetFields())
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "acme", tenant)
}

// TestChildOnARoutedQueueCarriesItsTenant: workflow code that names a
// routed queue for its child gets the same checks as a client.
func TestChildOnARoutedQueueCarriesItsTenant(t *testing.T) {
	h := saas(t)
	queue := vectors.Queue(t, "acme", shards)
	out, err := h.router.route(WithTenant(context.Background(), "acme"), start{
		path: "ExecuteChildWorkflow", workflowType: "UserOnboardingWorkflow", taskQueue: routing.TaskQueueName("saas", routing.Tenant, routing.StableShard("victim", shards)),
		priority: temporal.Priority{FairnessKey: "victim"}, inWorkflow: true,
	})
	require.NoError(t, err)
	assert.True(t, out.rerouted())
	assert.Equal(t, "acme", out.priority.FairnessKey)
	assert.Equal(t, "acme", out.tenant)

	_, err = h.router.route(WithTenant(context.Background(), "acme"), start{
		path: "ExecuteChildWorkflow", workflowType: "UserOnboardingWorkflow", taskQueue: queue,
		memo: map[string]any{DefaultMemoKey: "victim"}, inWorkflow: true,
	})
	assert.ErrorIs(t, err, ErrTenantMismatch)
}

// TestActivityTenantFollowsTheSameRule: an activity's header must agree
// with its fairness key on a routed tenant queue; elsewhere the key is the
// caller's own business.
func TestActivityTenantFollowsTheSameRule(t *testing.T) {
	h := saas(t)
	queue := vectors.Queue(t, "acme", shards)
	acmeKey := temporal.Priority{FairnessKey: "acme"}

	tenant, err := h.router.activityTenant(tenantHeaderOf(t, "acme"), queue, acmeKey)
	require.NoError(t, err)
	assert.Equal(t, "acme", tenant)
	_, err = h.router.activityTenant(tenantHeaderOf(t, "victim"), queue, acmeKey)
	assert.ErrorIs(t, err, ErrTenantMismatch)
	_, err = h.router.activityTenant(tenantHeaderOf(t, " acme "), queue, acmeKey)
	assert.ErrorIs(t, err, ErrInvalidTenant)
	tenant, err = h.router.activityTenant(tenantHeaderOf(t, "acme"), "billing", temporal.Priority{FairnessKey: "gold"})
	require.NoError(t, err)
	assert.Equal(t, "acme", tenant)
	tenant, err = h.router.activityTenant(nil, "billing", temporal.Priority{FairnessKey: "gold"})
	require.NoError(t, err)
	assert.Empty(t, tenant)
}

// TestAMemoTheRouterCannotDecode: a memo encrypted by a codec the router
// was not given (see WithDataConverter) neither names nor refutes a
// tenant: the header, checked against the fairness key, still gives it;
// with nothing else, the workflow's tenant cannot be read.
func TestAMemoTheRouterCannotDecode(t *testing.T) {
	h := saas(t)
	long := strings.Repeat("l", 100)
	encrypted := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/encrypted")}, Data: []byte("x")}
	info := &workflow.Info{
		TaskQueueName: routing.TaskQueueName("saas", routing.Tenant, routing.StableShard(long, shards)),
		Priority:      temporal.Priority{FairnessKey: routing.FairnessKey(long)},
		Memo:          &commonpb.Memo{Fields: map[string]*commonpb.Payload{DefaultMemoKey: encrypted}},
	}
	tenant, err := h.router.workflowTenant(tenantHeaderOf(t, long), info)
	require.NoError(t, err)
	assert.Equal(t, long, tenant)
	_, err = h.router.workflowTenant(tenantHeaderOf(t, "victim"), info)
	assert.ErrorIs(t, err, ErrTenantMismatch, "the derived key still refutes a header")
	_, err = h.router.workflowTenant(nil, info)
	assert.ErrorIs(t, err, ErrInvalidTenant)
	assert.Contains(t, err.Error(), "WithDataConverter")

	// A memo that decodes, but not to a string, is invalid, not opaque.
	info.Memo.Fields[DefaultMemoKey] = mustPayload(t, 42)
	_, err = h.router.workflowTenant(tenantHeaderOf(t, long), info)
	assert.ErrorIs(t, err, ErrInvalidTenant)
}

// TestWorkerCostDoesNotGrowWithPins: reading a workflow's tenant used to
// copy the table's pin map (Table.Config) on every call: 300 µs with
// 10,000 pins. It now costs the same with none.
func TestWorkerCostDoesNotGrowWithPins(t *testing.T) {
	pins := make(map[string]string, 10000)
	for i := range 10000 {
		pins[fmt.Sprintf("pinned-%d", i)] = "vip"
	}
	allocs := func(cfg routing.Config) float64 {
		h := newHarness(t, cfg)
		header, info := tenantHeaderOf(t, "acme"), routedInfo(t)
		return testing.AllocsPerRun(20, func() { _, _ = h.router.workflowTenant(header, info) })
	}
	// A copy of the pins cost 44 allocations against 10; the race
	// detector's instrumentation moves a count by one now and then.
	none, many := allocs(routing.Config{Prefix: "saas", Shards: shards}), allocs(routing.Config{Prefix: "saas", Shards: shards, Pins: pins})
	assert.InDelta(t, none, many, 1)
}
