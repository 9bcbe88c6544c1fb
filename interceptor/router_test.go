package interceptor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"

	"github.com/tqrouter/tqrouter/internal/vectors"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

const shards = 32

// fakeNext is the one fake next client interceptor of the unit tests: it
// records what reaches it and short-circuits, so that nothing is sent
// anywhere. With onExecute set it is safe for concurrent use: each
// ExecuteWorkflow is passed to onExecute instead of being recorded.
type fakeNext struct {
	sdkinterceptor.ClientOutboundInterceptorBase
	onExecute func(context.Context, *sdkinterceptor.ClientExecuteWorkflowInput)
	calls     int
	execute   *sdkinterceptor.ClientExecuteWorkflowInput
	signal    *sdkinterceptor.ClientSignalWithStartWorkflowInput
	schedule  *sdkinterceptor.ScheduleClientCreateInput
	update    *sdkinterceptor.ClientUpdateWithStartWorkflowInput
	activity  *sdkinterceptor.ClientExecuteActivityInput
}

func (f *fakeNext) ExecuteActivity(_ context.Context, in *sdkinterceptor.ClientExecuteActivityInput) (client.ActivityHandle, error) {
	f.calls++
	f.activity = in
	return nil, nil
}

func (f *fakeNext) ExecuteWorkflow(ctx context.Context, in *sdkinterceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	if f.onExecute != nil {
		f.onExecute(ctx, in)
		return nil, nil
	}
	f.calls++
	f.execute = in
	return nil, nil
}

func (f *fakeNext) SignalWithStartWorkflow(_ context.Context, in *sdkinterceptor.ClientSignalWithStartWorkflowInput) (client.WorkflowRun, error) {
	f.calls++
	f.signal = in
	return nil, nil
}

func (f *fakeNext) CreateSchedule(_ context.Context, in *sdkinterceptor.ScheduleClientCreateInput) (client.ScheduleHandle, error) {
	f.calls++
	f.schedule = in
	return nil, nil
}

func (f *fakeNext) UpdateWithStartWorkflow(_ context.Context, in *sdkinterceptor.ClientUpdateWithStartWorkflowInput) (client.WorkflowUpdateHandle, error) {
	f.calls++
	f.update = in
	return nil, nil
}

type harness struct {
	router *Router
	out    sdkinterceptor.ClientOutboundInterceptor
	next   *fakeNext
	spans  *tracetest.SpanRecorder
}

func newHarness(t *testing.T, cfg routing.Config, opts ...Option) *harness {
	t.Helper()
	return newHarnessFor(t, registry.Default(), cfg, opts...)
}

func newHarnessFor(t *testing.T, reg *registry.Registry, cfg routing.Config, opts ...Option) *harness {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	router, err := New(reg, cfg, append([]Option{WithTracerProvider(tp), WithoutHotTenants()}, opts...)...)
	require.NoError(t, err)
	next := &fakeNext{}
	return &harness{router: router, out: router.InterceptClient(next), next: next, spans: spans}
}

func saas(t *testing.T, opts ...Option) *harness {
	return newHarness(t, routing.Config{Prefix: "saas", Shards: shards}, opts...)
}

func (h *harness) execute(ctx context.Context, workflowType string, opts client.StartWorkflowOptions) (*client.StartWorkflowOptions, error) {
	h.next.execute = nil
	_, err := h.out.ExecuteWorkflow(ctx, &sdkinterceptor.ClientExecuteWorkflowInput{Options: &opts, WorkflowType: workflowType})
	if h.next.execute == nil {
		return nil, err
	}
	return h.next.execute.Options, err
}

func (h *harness) lastSpan(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	ended := h.spans.Ended()
	require.NotEmpty(t, ended)
	return ended[len(ended)-1]
}

func attrs(span sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range span.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestExecuteWorkflowRoutesTenantToVectorShard(t *testing.T) {
	h := saas(t)
	ctx := WithTenant(context.Background(), "acme")
	got, err := h.execute(ctx, "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue", ID: "w1"})
	require.NoError(t, err)
	assert.Equal(t, vectors.Queue(t, "acme", shards), got.TaskQueue)
	assert.Equal(t, temporal.Priority{FairnessKey: "acme"}, got.Priority)
	assert.Equal(t, "w1", got.ID, "other options are kept")

	span := h.lastSpan(t)
	assert.Equal(t, "RouteWorkflow:UserOnboardingWorkflow", span.Name())
	a := attrs(span)
	assert.Equal(t, "routed", a[AttrDecision].AsString())
	assert.Equal(t, "main-queue", a[AttrOriginalQueue].AsString())
	assert.Equal(t, vectors.Queue(t, "acme", shards), a[AttrChosenQueue].AsString())
	assert.Equal(t, "tenant", a[AttrQueueKind].AsString())
	assert.Equal(t, int64(routing.StableShard("acme", shards)), a[AttrShard].AsInt64())
	assert.Equal(t, tenantHash("acme", nil), a[AttrTenantHash].AsString())
	_, raw := a[AttrTenantID]
	assert.False(t, raw, "raw tenant IDs stay out of traces by default")
	assert.Equal(t, "ExecuteWorkflow", a[AttrStartPath].AsString())
}

func TestEveryReferenceTenantRoutes(t *testing.T) {
	h := saas(t)
	for _, tenant := range []string{"acme", "tenant-ü-☃", "38d69f70-d254-41a7-9ebf-aeab054c8c61", "0"} {
		got, err := h.execute(WithTenant(context.Background(), tenant), "TenantProvisioningWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
		require.NoError(t, err, tenant)
		assert.Equal(t, vectors.Queue(t, tenant, shards), got.TaskQueue, tenant)
		assert.Equal(t, tenant, got.Priority.FairnessKey)
	}
}

func TestJobsGoToShardZeroWithoutFairnessKey(t *testing.T) {
	h := saas(t)
	got, err := h.execute(context.Background(), "TokenCleanupWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue", Priority: temporal.Priority{PriorityKey: 2}})
	require.NoError(t, err)
	assert.Equal(t, "saas.jobs.00", got.TaskQueue)
	assert.Equal(t, temporal.Priority{PriorityKey: 2}, got.Priority)

	// A tenant in the context does not make a job tenant-scoped.
	got, err = h.execute(WithTenant(context.Background(), "acme"), "TokenCleanupWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
	require.NoError(t, err)
	assert.Equal(t, "saas.jobs.00", got.TaskQueue)
	assert.Empty(t, got.Priority.FairnessKey)
}

func TestOneShardRoutesToZero(t *testing.T) {
	h := newHarness(t, routing.Config{Prefix: "saas", Shards: 1})
	for _, tenant := range []string{"acme", "globex", "initech"} {
		got, err := h.execute(WithTenant(context.Background(), tenant), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
		require.NoError(t, err)
		assert.Equal(t, "saas.tenant.00", got.TaskQueue)
		assert.Equal(t, tenant, got.Priority.FairnessKey)
	}
}

func TestPassthrough(t *testing.T) {
	h := saas(t)
	ctx := WithTenant(context.Background(), "acme")
	tests := []struct {
		name, workflowType, queue, reason string
	}{
		{"explicit queue", "UserOnboardingWorkflow", "special-queue", reasonExplicitQueue},
		{"already routed, a queue without tenants", "TokenCleanupWorkflow", "saas.jobs.00", reasonAlreadyRouted},
		{"unregistered", "SomeOtherWorkflow", "main-queue", reasonUnregistered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := client.StartWorkflowOptions{TaskQueue: tt.queue, Priority: temporal.Priority{FairnessKey: "caller"}}
			got, err := h.execute(ctx, tt.workflowType, opts)
			require.NoError(t, err)
			assert.Equal(t, opts, *got)
			a := attrs(h.lastSpan(t))
			assert.Equal(t, "passthrough", a[AttrDecision].AsString())
			assert.Equal(t, tt.reason, a[AttrReason].AsString())
		})
	}
	assert.Equal(t, "RouteWorkflow", h.lastSpan(t).Name(), "unregistered types do not name spans")
}

func TestRefusalsNeverReachNext(t *testing.T) {
	long := strings.Repeat("x", routing.MaxTenantLen+1)
	tests := []struct {
		name  string
		ctx   context.Context
		memo  map[string]any
		opts  []Option
		wf    string
		want  error
		etype string
	}{
		{"missing tenant", context.Background(), nil, nil, "UserOnboardingWorkflow", ErrMissingTenant, "missing_tenant"},
		{"empty context tenant", WithTenant(context.Background(), ""), nil, nil, "UserOnboardingWorkflow", ErrInvalidTenant, "invalid_tenant"},
		{"empty memo tenant", context.Background(), map[string]any{"tenant_id": ""}, nil, "UserOnboardingWorkflow", ErrInvalidTenant, "invalid_tenant"},
		{"context and memo disagree", WithTenant(context.Background(), "acme"), map[string]any{"tenant_id": "globex"}, nil, "UserOnboardingWorkflow", ErrTenantMismatch, "tenant_mismatch"},
		{"job with disagreeing tenants", WithTenant(context.Background(), "acme"), map[string]any{"tenant_id": "globex"}, nil, "TokenCleanupWorkflow", ErrTenantMismatch, "tenant_mismatch"},
		{"memo not a string", context.Background(), map[string]any{"tenant_id": 42}, nil, "UserOnboardingWorkflow", ErrInvalidTenant, "invalid_tenant"},
		{"memo nil", context.Background(), map[string]any{"tenant_id": nil}, nil, "UserOnboardingWorkflow", ErrInvalidTenant, "invalid_tenant"},
		{"memo payload not a string", context.Background(), map[string]any{"tenant_id": mustPayload(t, 7)}, nil, "UserOnboardingWorkflow", ErrInvalidTenant, "invalid_tenant"},
		{"white space tenant", WithTenant(context.Background(), "  "), nil, nil, "UserOnboardingWorkflow", ErrInvalidTenant, "invalid_tenant"},
		{"non-UTF-8 tenant", WithTenant(context.Background(), "\xff"), nil, nil, "UserOnboardingWorkflow", ErrInvalidTenant, "invalid_tenant"},
		{"over-long tenant", WithTenant(context.Background(), long), nil, nil, "UserOnboardingWorkflow", ErrInvalidTenant, "invalid_tenant"},
		{"NaN weight", WithTenant(context.Background(), "acme"), nil, []Option{WithWeightFunc(func(context.Context, string) float32 { return float32(math.NaN()) })}, "UserOnboardingWorkflow", ErrInvalidWeight, "invalid_weight"},
		{"negative weight", WithTenant(context.Background(), "acme"), nil, []Option{WithWeightFunc(func(context.Context, string) float32 { return -1 })}, "UserOnboardingWorkflow", ErrInvalidWeight, "invalid_weight"},
		{"unregistered refused", WithTenant(context.Background(), "acme"), nil, []Option{WithRefuseUnregistered()}, "Unknown", ErrUnregisteredWorkflow, "unregistered_workflow"},
		{"tenant func disagrees", WithTenant(context.Background(), "acme"), nil, []Option{WithTenantFunc(func(context.Context, string) (string, error) { return "globex", nil })}, "UserOnboardingWorkflow", ErrTenantMismatch, "tenant_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := saas(t, tt.opts...)
			got, err := h.execute(tt.ctx, tt.wf, client.StartWorkflowOptions{TaskQueue: "main-queue", Memo: tt.memo})
			require.ErrorIs(t, err, tt.want)
			var re *RouteError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, "ExecuteWorkflow", re.Path)
			assert.Equal(t, tt.wf, re.WorkflowType)
			assert.Equal(t, "main-queue", re.TaskQueue)
			assert.NotContains(t, err.Error(), "globex", "errors do not name tenants")
			assert.Nil(t, got)
			assert.Zero(t, h.next.calls, "a refused start must not reach the next interceptor")

			span := h.lastSpan(t)
			assert.Equal(t, codes.Error, span.Status().Code)
			a := attrs(span)
			assert.Equal(t, "refused", a[AttrDecision].AsString())
			assert.Equal(t, tt.etype, a[AttrErrorType].AsString())
		})
	}
}

func mustPayload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	require.NoError(t, err)
	return p
}

func TestTenantSources(t *testing.T) {
	h := saas(t)
	// Memo only, as a plain string and as an encoded payload.
	for _, v := range []any{"38047cfc-8811-4f0d-a0ea-bfa3a873ab76", mustPayload(t, "38047cfc-8811-4f0d-a0ea-bfa3a873ab76")} {
		got, err := h.execute(context.Background(), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue", Memo: map[string]any{"tenant_id": v}})
		require.NoError(t, err)
		assert.Equal(t, vectors.Queue(t, "38047cfc-8811-4f0d-a0ea-bfa3a873ab76", shards), got.TaskQueue)
		assert.Equal(t, "38047cfc-8811-4f0d-a0ea-bfa3a873ab76", got.Priority.FairnessKey)
	}
	// Context and memo agreeing.
	got, err := h.execute(WithTenant(context.Background(), "acme"), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue", Memo: map[string]any{"tenant_id": "acme"}})
	require.NoError(t, err)
	assert.Equal(t, "acme", got.Priority.FairnessKey)

	// A custom memo key and a tenant function.
	h = saas(t, WithMemoKey("org"), WithTenantFunc(func(ctx context.Context, wf string) (string, error) {
		if wf == "TenantDeletionWorkflow" {
			return "initech", nil
		}
		return "", nil
	}))
	got, err = h.execute(context.Background(), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue", Memo: map[string]any{"org": "acme", "tenant_id": 5}})
	require.NoError(t, err)
	assert.Equal(t, "acme", got.Priority.FairnessKey, "only the configured memo key is read")
	got, err = h.execute(context.Background(), "TenantDeletionWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
	require.NoError(t, err)
	assert.Equal(t, "initech", got.Priority.FairnessKey)

	failing := errors.New("no claims")
	h = saas(t, WithTenantFunc(func(context.Context, string) (string, error) { return "", failing }))
	_, err = h.execute(context.Background(), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
	assert.ErrorIs(t, err, failing)
}

func TestLegacyFallback(t *testing.T) {
	h := saas(t, WithLegacyFallback())
	got, err := h.execute(context.Background(), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
	require.NoError(t, err)
	assert.Equal(t, "main-queue", got.TaskQueue)
	assert.Equal(t, reasonNoTenant, attrs(h.lastSpan(t))[AttrReason].AsString())
	// A mismatch is still refused: fallback is for missing tenants only.
	_, err = h.execute(WithTenant(context.Background(), "a"), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue", Memo: map[string]any{"tenant_id": "b"}})
	assert.ErrorIs(t, err, ErrTenantMismatch)
}

func TestLegacyQueues(t *testing.T) {
	h := saas(t, WithLegacyQueues("main-queue", "old-queue"))
	ctx := WithTenant(context.Background(), "acme")
	for _, q := range []string{"main-queue", "old-queue"} {
		got, err := h.execute(ctx, "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: q})
		require.NoError(t, err)
		assert.Equal(t, vectors.Queue(t, "acme", shards), got.TaskQueue)
	}
	h = saas(t, WithLegacyQueues("other"))
	got, err := h.execute(ctx, "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
	require.NoError(t, err)
	assert.Equal(t, "main-queue", got.TaskQueue, "main-queue is no longer legacy")
}

func TestWeights(t *testing.T) {
	weights := map[string]float32{"big": 5000, "tiny": 0.00001, "vip": 3, "plain": 0, "inf": float32(math.Inf(1))}
	h := saas(t, WithWeightFunc(func(_ context.Context, tenant string) float32 { return weights[tenant] }))
	want := map[string]float32{"big": routing.MaxWeight, "tiny": routing.MinWeight, "vip": 3, "plain": 0, "inf": routing.MaxWeight}
	for tenant, w := range want {
		got, err := h.execute(WithTenant(context.Background(), tenant), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue", Priority: temporal.Priority{PriorityKey: 3, FairnessKey: "spoofed", FairnessWeight: 9}})
		require.NoError(t, err)
		assert.Equal(t, temporal.Priority{PriorityKey: 3, FairnessKey: tenant, FairnessWeight: w}, got.Priority, tenant)
	}
	// Without a weight function the caller's weight is kept, normalized.
	h = saas(t)
	got, err := h.execute(WithTenant(context.Background(), "acme"), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue", Priority: temporal.Priority{FairnessWeight: 2000}})
	require.NoError(t, err)
	assert.Equal(t, routing.MaxWeight, got.Priority.FairnessWeight)
	assert.Equal(t, float64(routing.MaxWeight), attrs(h.lastSpan(t))[AttrWeight].AsFloat64())
}

func TestLongTenantGetsShortFairnessKey(t *testing.T) {
	h := saas(t)
	tenant := strings.Repeat("t", 100)
	memo := map[string]any{"other": 1}
	got, err := h.execute(WithTenant(context.Background(), tenant), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue", Memo: memo})
	require.NoError(t, err)
	assert.Equal(t, routing.FairnessKey(tenant), got.Priority.FairnessKey)
	assert.LessOrEqual(t, len(got.Priority.FairnessKey), routing.MaxFairnessKeyLen)
	// The derived key cannot give the tenant back, so the memo carries it.
	assert.Equal(t, map[string]any{"other": 1, DefaultMemoKey: tenant}, got.Memo)
	assert.Equal(t, map[string]any{"other": 1}, memo, "the caller's memo is not written")

	// A short tenant is its own fairness key: the memo stays as it was.
	got, err = h.execute(WithTenant(context.Background(), "acme"), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue", Memo: memo})
	require.NoError(t, err)
	assert.Equal(t, memo, got.Memo)
}

func TestCallerOptionsAreNotMutated(t *testing.T) {
	h := saas(t)
	opts := &client.StartWorkflowOptions{TaskQueue: "main-queue"}
	in := &sdkinterceptor.ClientExecuteWorkflowInput{Options: opts, WorkflowType: "UserOnboardingWorkflow"}
	_, err := h.out.ExecuteWorkflow(WithTenant(context.Background(), "acme"), in)
	require.NoError(t, err)
	assert.Equal(t, "main-queue", opts.TaskQueue)
	assert.Same(t, opts, in.Options)
	assert.NotSame(t, in, h.next.execute)
}

func TestTenantInTracesOptIn(t *testing.T) {
	h := saas(t, WithTenantInTraces())
	_, err := h.execute(WithTenant(context.Background(), "acme"), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
	require.NoError(t, err)
	a := attrs(h.lastSpan(t))
	assert.Equal(t, "acme", a[AttrTenantID].AsString())
	_, hashed := a[AttrTenantHash]
	assert.False(t, hashed)
}

func TestShadowModeChangesNothing(t *testing.T) {
	h := saas(t, WithShadowMode())
	opts := client.StartWorkflowOptions{TaskQueue: "main-queue"}
	got, err := h.execute(WithTenant(context.Background(), "acme"), "UserOnboardingWorkflow", opts)
	require.NoError(t, err)
	assert.Equal(t, opts, *got)
	a := attrs(h.lastSpan(t))
	assert.Equal(t, "shadow", a[AttrDecision].AsString())
	assert.Equal(t, vectors.Queue(t, "acme", shards), a[AttrChosenQueue].AsString(), "the trace shows where it would go")

	// Would-be refusals are let through and recorded.
	got, err = h.execute(context.Background(), "UserOnboardingWorkflow", opts)
	require.NoError(t, err)
	assert.Equal(t, opts, *got)
	a = attrs(h.lastSpan(t))
	assert.Equal(t, "shadow", a[AttrDecision].AsString())
	assert.Equal(t, "missing_tenant", a[AttrErrorType].AsString())
}

func TestSignalWithStart(t *testing.T) {
	h := saas(t)
	opts := &client.StartWorkflowOptions{TaskQueue: "main-queue"}
	_, err := h.out.SignalWithStartWorkflow(WithTenant(context.Background(), "acme"), &sdkinterceptor.ClientSignalWithStartWorkflowInput{
		SignalName: "go", Options: opts, WorkflowType: "TenantProvisioningWorkflow",
	})
	require.NoError(t, err)
	assert.Equal(t, vectors.Queue(t, "acme", shards), h.next.signal.Options.TaskQueue)
	assert.Equal(t, "acme", h.next.signal.Options.Priority.FairnessKey)
	assert.Equal(t, "go", h.next.signal.SignalName)
	assert.Equal(t, "main-queue", opts.TaskQueue)
	assert.Equal(t, "SignalWithStartWorkflow", attrs(h.lastSpan(t))[AttrStartPath].AsString())

	h = saas(t)
	_, err = h.out.SignalWithStartWorkflow(context.Background(), &sdkinterceptor.ClientSignalWithStartWorkflowInput{
		SignalName: "go", Options: &client.StartWorkflowOptions{TaskQueue: "main-queue"}, WorkflowType: "TenantProvisioningWorkflow",
	})
	assert.ErrorIs(t, err, ErrMissingTenant)
	assert.Zero(t, h.next.calls)
}

func TokenCleanupWorkflow() error { return nil }

func TestCreateSchedule(t *testing.T) {
	h := saas(t)
	action := &client.ScheduleWorkflowAction{Workflow: TokenCleanupWorkflow, TaskQueue: "main-queue"}
	opts := &client.ScheduleOptions{ID: "cleanup", Action: action}
	_, err := h.out.CreateSchedule(context.Background(), &sdkinterceptor.ScheduleClientCreateInput{Options: opts})
	require.NoError(t, err)
	routed := h.next.schedule.Options.Action.(*client.ScheduleWorkflowAction)
	assert.Equal(t, "saas.jobs.00", routed.TaskQueue)
	assert.Equal(t, "main-queue", action.TaskQueue, "the caller's action is not mutated")
	assert.Same(t, action, opts.Action)
	assert.Equal(t, "cleanup", h.next.schedule.Options.ID)

	// A tenant-scoped schedule takes its tenant from the memo or the context.
	_, err = h.out.CreateSchedule(context.Background(), &sdkinterceptor.ScheduleClientCreateInput{Options: &client.ScheduleOptions{
		ID: "onboard", Action: &client.ScheduleWorkflowAction{Workflow: "UserOnboardingWorkflow", TaskQueue: "main-queue", Memo: map[string]any{"tenant_id": "acme"}},
	}})
	require.NoError(t, err)
	routed = h.next.schedule.Options.Action.(*client.ScheduleWorkflowAction)
	assert.Equal(t, vectors.Queue(t, "acme", shards), routed.TaskQueue)
	assert.Equal(t, "acme", routed.Priority.FairnessKey)

	calls := h.next.calls
	_, err = h.out.CreateSchedule(context.Background(), &sdkinterceptor.ScheduleClientCreateInput{Options: &client.ScheduleOptions{
		ID: "x", Action: &client.ScheduleWorkflowAction{Workflow: "UserOnboardingWorkflow", TaskQueue: "main-queue"},
	}})
	assert.ErrorIs(t, err, ErrMissingTenant)
	assert.Equal(t, calls, h.next.calls)
}

func TestRouteScheduleAction(t *testing.T) {
	h := saas(t)
	action := &client.ScheduleWorkflowAction{Workflow: "TenantDeletionWorkflow", TaskQueue: "main-queue"}
	require.NoError(t, h.router.RouteScheduleAction(WithTenant(context.Background(), "acme"), action))
	assert.Equal(t, vectors.Queue(t, "acme", shards), action.TaskQueue)
	assert.Equal(t, "acme", action.Priority.FairnessKey)

	action = &client.ScheduleWorkflowAction{Workflow: "TenantDeletionWorkflow", TaskQueue: "main-queue"}
	assert.ErrorIs(t, h.router.RouteScheduleAction(context.Background(), action), ErrMissingTenant)
	assert.Equal(t, "main-queue", action.TaskQueue, "a refused action is left as it was")
	assert.NoError(t, h.router.RouteScheduleAction(context.Background(), nil))
}

func TestUpdateWithStart(t *testing.T) {
	h := saas(t)
	c, _ := wireClient(t, h.router)
	ctx := WithTenant(context.Background(), "acme")
	startOpts := client.StartWorkflowOptions{ID: "w", TaskQueue: "main-queue", WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}

	op, err := h.router.NewWithStartWorkflowOperation(ctx, c, startOpts, "UserOnboardingWorkflow")
	require.NoError(t, err)
	assert.Equal(t, "routed", attrs(h.lastSpan(t))[AttrDecision].AsString())
	assert.Equal(t, "UpdateWithStartWorkflow", attrs(h.lastSpan(t))[AttrStartPath].AsString())
	in := &sdkinterceptor.ClientUpdateWithStartWorkflowInput{StartWorkflowOperation: op, UpdateOptions: &client.UpdateWorkflowOptions{UpdateName: "u"}}
	_, err = h.out.UpdateWithStartWorkflow(ctx, in)
	require.NoError(t, err)
	assert.Same(t, in, h.next.update)

	// An operation is let through once: the SDK runs each only once anyway.
	h.next.calls = 0
	_, err = h.out.UpdateWithStartWorkflow(ctx, in)
	assert.ErrorIs(t, err, ErrUnroutedUpdateWithStart)
	assert.Zero(t, h.next.calls)

	// An operation made by the SDK directly is refused.
	raw := c.NewWithStartWorkflowOperation(startOpts, "UserOnboardingWorkflow")
	_, err = h.out.UpdateWithStartWorkflow(ctx, &sdkinterceptor.ClientUpdateWithStartWorkflowInput{StartWorkflowOperation: raw, UpdateOptions: &client.UpdateWorkflowOptions{}})
	require.ErrorIs(t, err, ErrUnroutedUpdateWithStart)
	assert.Zero(t, h.next.calls)
	span := h.lastSpan(t)
	assert.Equal(t, "refused", attrs(span)[AttrDecision].AsString())
	assert.Equal(t, codes.Error, span.Status().Code)

	// A start the router refuses makes no operation.
	op, err = h.router.NewWithStartWorkflowOperation(context.Background(), c, startOpts, "UserOnboardingWorkflow")
	assert.ErrorIs(t, err, ErrMissingTenant)
	assert.Nil(t, op)
	_, err = h.router.NewWithStartWorkflowOperation(ctx, c, startOpts, 42)
	assert.ErrorIs(t, err, registry.ErrInvalidWorkflow)

	// Shadow mode lets raw operations through.
	h = saas(t, WithShadowMode())
	_, err = h.out.UpdateWithStartWorkflow(ctx, &sdkinterceptor.ClientUpdateWithStartWorkflowInput{StartWorkflowOperation: raw, UpdateOptions: &client.UpdateWorkflowOptions{}})
	assert.NoError(t, err)
	assert.Equal(t, "shadow", attrs(h.lastSpan(t))[AttrDecision].AsString())
}

func TestUnusedOperationsAreNotRetained(t *testing.T) {
	h := saas(t)
	c, _ := wireClient(t, h.router)
	ctx := WithTenant(context.Background(), "acme")
	ops := make([]client.WithStartWorkflowOperation, 0, 100)
	for range 100 {
		op, err := h.router.NewWithStartWorkflowOperation(ctx, c, client.StartWorkflowOptions{TaskQueue: "main-queue", WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL}, "UserOnboardingWorkflow")
		require.NoError(t, err)
		ops = append(ops, op)
	}
	runtime.GC()
	assert.Equal(t, 100, h.router.ops.len(), "operations still referenced must stay")
	runtime.KeepAlive(ops)
	// From here on the caller has dropped them, never used.
	require.Eventually(t, func() bool {
		runtime.GC()
		return h.router.ops.len() == 0
	}, 10*time.Second, 10*time.Millisecond, "operations never used must be released")
}

func TestNewValidates(t *testing.T) {
	good := routing.Config{Prefix: "saas", Shards: 4}
	_, err := New(nil, good)
	assert.ErrorIs(t, err, routing.ErrInvalidConfig)
	_, err = New(registry.Default(), routing.Config{Prefix: "saas"})
	assert.ErrorIs(t, err, routing.ErrInvalidConfig)
	_, err = New(registry.Default(), good, WithLegacyQueues())
	assert.ErrorIs(t, err, routing.ErrInvalidConfig)
	_, err = New(registry.Default(), good, WithLegacyQueues(""))
	assert.ErrorIs(t, err, routing.ErrInvalidConfig)
	_, err = New(registry.Default(), good, WithLegacyQueues("saas.tenant.00"))
	assert.ErrorIs(t, err, routing.ErrInvalidConfig, "a shard queue cannot be legacy")
	router, err := New(registry.Default(), good, nil, WithTracerProvider(nil), WithMemoKey(""), WithTenantFunc(nil), WithWeightFunc(nil))
	require.NoError(t, err, "nil options and nil arguments are ignored")
	assert.Equal(t, DefaultMemoKey, router.opts.memoKey)
	assert.Equal(t, good, router.Table().Config())
}

func TestSpanName(t *testing.T) {
	assert.Equal(t, "RouteWorkflow:UserOnboardingWorkflow", spanName(workflowSubject, "UserOnboardingWorkflow"))
	assert.Equal(t, "RouteWorkflow", spanName(workflowSubject, ""))
	assert.Equal(t, "RouteActivity:Work", spanName(activitySubject, "Work"))
	assert.Equal(t, "RouteActivity", spanName(activitySubject, ""))
}

// hmacGolden is the pseudonym of "acme" under the key "secret".
const hmacGolden = "700f8a7107743894"

func TestTenantHash(t *testing.T) {
	// Golden, from `printf acme | sha256sum | cut -c1-16`.
	assert.Equal(t, "822b33ad87c148a0", tenantHash("acme", nil))
	// Golden, from `printf acme | openssl dgst -sha256 -hmac secret | cut -c1-16` (after the "= ").
	assert.Equal(t, hmacGolden, tenantHash("acme", []byte("secret")))
	assert.NotEqual(t, tenantHash("acme", nil), tenantHash("acme", []byte("secret")))

	h := saas(t, WithTenantHashKey([]byte("secret")))
	_, err := h.execute(WithTenant(context.Background(), "acme"), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
	require.NoError(t, err)
	assert.Equal(t, hmacGolden, attrs(h.lastSpan(t))[AttrTenantHash].AsString())
}

func TestRouteErrorMessage(t *testing.T) {
	err := &RouteError{Path: "ExecuteWorkflow", WorkflowType: "UserOnboardingWorkflow", TaskQueue: "main-queue", Err: ErrMissingTenant}
	assert.Equal(t, `tqrouter: tenant-scoped workflow started without a tenant ID (refused ExecuteWorkflow of "UserOnboardingWorkflow" on "main-queue")`, err.Error())

	// Errors of this package that wrap others still say "tqrouter:" once.
	for _, inner := range []error{
		&unreadableTenant{queue: "saas.tenant.03", cause: mismatch("header tqrouter-tenant", "memo field")},
		validate(" acme ", "context value"),
		fmt.Errorf("tenant function: %w", ErrInvalidTenant),
		fmt.Errorf("%w: %w", ErrMissingTenant, ErrTenantMismatch),
	} {
		err := &RouteError{Path: "ExecuteChildWorkflow", WorkflowType: "UserOnboardingWorkflow", TaskQueue: "main-queue", Err: inner}
		assert.Equal(t, 1, strings.Count(err.Error(), "tqrouter:"), err.Error())
		assert.NotContains(t, err.Error(), "acme")
	}
}

func TestPinnedTenant(t *testing.T) {
	pins := map[string]string{"acme": "vip", "globex": "vip", "initech": "big-1"}
	h := newHarness(t, routing.Config{Prefix: "saas", Shards: shards, Pins: pins})
	got, err := h.execute(WithTenant(context.Background(), "acme"), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
	require.NoError(t, err)
	assert.Equal(t, "saas.tenant.pinned-vip", got.TaskQueue)
	assert.Equal(t, "acme", got.Priority.FairnessKey, "fairness still separates pinned tenants")
	a := attrs(h.lastSpan(t))
	assert.Equal(t, "routed", a[AttrDecision].AsString())
	assert.Equal(t, "pinned_tenant", a[AttrReason].AsString())
	assert.Equal(t, "saas.tenant.pinned-vip", a[AttrChosenQueue].AsString())
	_, hasShard := a[AttrShard]
	assert.False(t, hasShard)

	// Jobs are not tenant-scoped, and other tenants keep their shard.
	got, err = h.execute(WithTenant(context.Background(), "acme"), "TokenCleanupWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
	require.NoError(t, err)
	assert.Equal(t, "saas.jobs.00", got.TaskQueue)
	got, err = h.execute(WithTenant(context.Background(), "tenant-ü-☃"), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
	require.NoError(t, err)
	assert.Equal(t, vectors.Queue(t, "tenant-ü-☃", shards), got.TaskQueue)

	polled, err := h.router.Table().PollQueues(routing.Tenant)
	require.NoError(t, err)
	assert.Subset(t, polled, []string{"saas.tenant.pinned-big-1", "saas.tenant.pinned-vip"})

	_, err = New(registry.Default(), routing.Config{Prefix: "saas", Shards: 2, Pins: map[string]string{"acme": "a.b"}})
	assert.ErrorIs(t, err, routing.ErrInvalidConfig)
	_, err = New(registry.Default(), routing.Config{Prefix: "saas", Shards: 2, Pins: map[string]string{" ": "x"}})
	assert.ErrorIs(t, err, routing.ErrInvalidConfig)
}

// TestNilContextAndValues: a nil context, a context without a tenant and a
// nil memo never panic; the start is refused as tenant-less.
func TestNilContextAndValues(t *testing.T) {
	h := saas(t)
	// A nil context is the point of this test.
	_, ok := TenantFromContext(nil)
	assert.False(t, ok)
	_, err := h.out.ExecuteWorkflow(nil, &sdkinterceptor.ClientExecuteWorkflowInput{Options: &client.StartWorkflowOptions{TaskQueue: "main-queue"}, WorkflowType: "UserOnboardingWorkflow"})
	assert.ErrorIs(t, err, ErrMissingTenant)
	_, err = h.out.ExecuteWorkflow(context.Background(), &sdkinterceptor.ClientExecuteWorkflowInput{Options: &client.StartWorkflowOptions{TaskQueue: "main-queue", Memo: nil}, WorkflowType: "UserOnboardingWorkflow"})
	assert.ErrorIs(t, err, ErrMissingTenant)
	// Nil options are left for the SDK to report.
	_, err = h.out.ExecuteWorkflow(context.Background(), &sdkinterceptor.ClientExecuteWorkflowInput{WorkflowType: "UserOnboardingWorkflow"})
	assert.NoError(t, err)
	assert.Equal(t, 1, h.next.calls)
	assert.Zero(t, h.router.RouteScheduleAction(context.Background(), nil))
}

// TestPinnedStartAllocatesLikeAnyRoutedStart: a pinned tenant is a hot one,
// so its queue name is made once, not per start.
func TestPinnedStartAllocatesLikeAnyRoutedStart(t *testing.T) {
	h := newHarness(t, routing.Config{Prefix: "saas", Shards: shards, Pins: map[string]string{"acme": "vip"}})
	allocs := func(tenant string) float64 {
		ctx := WithTenant(context.Background(), tenant)
		return testing.AllocsPerRun(200, func() {
			in := &sdkinterceptor.ClientExecuteWorkflowInput{Options: &client.StartWorkflowOptions{TaskQueue: "main-queue"}, WorkflowType: "UserOnboardingWorkflow"}
			_, _ = h.out.ExecuteWorkflow(ctx, in)
		})
	}
	assert.Equal(t, "saas.tenant.pinned-vip", func() string {
		got, _ := h.execute(WithTenant(context.Background(), "acme"), "UserOnboardingWorkflow", client.StartWorkflowOptions{TaskQueue: "main-queue"})
		return got.TaskQueue
	}())
	assert.Equal(t, allocs("tenant-ü-☃"), allocs("acme"))
}

// counter is one data point of an int64 counter the router recorded.
type counter struct {
	name string
	dp   metricdata.DataPoint[int64]
}

// counters returns every data point of the int64 counters reader collects.
func counters(t *testing.T, reader *metric.ManualReader) []counter {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	var out []counter
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range sum.DataPoints {
					out = append(out, counter{m.Name, dp})
				}
			}
		}
	}
	return out
}

// sums returns the router's counters by metric name and the attributes
// given, joined with "/".
func sums(t *testing.T, reader *metric.ManualReader, keys ...string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, c := range counters(t, reader) {
		k := c.name
		for _, key := range keys {
			v, _ := c.dp.Attributes.Value(attribute.Key(key))
			k += "/" + v.Emit()
		}
		out[k] += c.dp.Value
	}
	return out
}
