package interceptor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"

	"github.com/tqrouter/tqrouter/internal/vectors"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// activityRegistry is the product's registry plus two standalone
// activities: a tenant's and a system job's.
func activityRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	reg := registry.Default()
	require.NoError(t, reg.RegisterActivity("SendWelcomeEmail", routing.Tenant))
	require.NoError(t, reg.RegisterActivity("RotateSigningKeys", routing.Jobs))
	return reg
}

func (h *harness) startActivity(ctx context.Context, activityType string, opts client.StartActivityOptions) (*client.StartActivityOptions, error) {
	h.next.activity = nil
	_, err := h.out.ExecuteActivity(ctx, &sdkinterceptor.ClientExecuteActivityInput{Options: &opts, ActivityType: activityType})
	if h.next.activity == nil {
		return nil, err
	}
	return h.next.activity.Options, err
}

func TestStandaloneActivityRoutes(t *testing.T) {
	h := newHarnessFor(t, activityRegistry(t), routing.Config{Prefix: "saas", Shards: shards})
	ctx := WithTenant(context.Background(), "acme")
	opts := client.StartActivityOptions{ID: "a1", TaskQueue: "main-queue", StartToCloseTimeout: time.Minute, Priority: temporal.Priority{PriorityKey: 2}}

	got, err := h.startActivity(ctx, "SendWelcomeEmail", opts)
	require.NoError(t, err)
	assert.Equal(t, vectors.Queue(t, "acme", shards), got.TaskQueue)
	assert.Equal(t, temporal.Priority{PriorityKey: 2, FairnessKey: "acme"}, got.Priority)
	assert.Equal(t, "a1", got.ID, "other options are kept")
	assert.Equal(t, "main-queue", opts.TaskQueue, "the caller's options are not written")
	span := h.lastSpan(t)
	assert.Equal(t, "RouteActivity:SendWelcomeEmail", span.Name())
	a := attrs(span)
	assert.Equal(t, "routed", a[AttrDecision].AsString())
	assert.Equal(t, "ExecuteActivity", a[AttrStartPath].AsString())
	assert.Equal(t, "SendWelcomeEmail", a[AttrWorkflowType].AsString())

	got, err = h.startActivity(ctx, "RotateSigningKeys", opts)
	require.NoError(t, err)
	assert.Equal(t, "saas.jobs.00", got.TaskQueue)
	assert.Equal(t, temporal.Priority{PriorityKey: 2}, got.Priority, "a system job gets no fairness key")
}

func TestStandaloneActivityPassthroughAndRefusals(t *testing.T) {
	cfg := routing.Config{Prefix: "saas", Shards: shards}
	opts := client.StartActivityOptions{ID: "a1", TaskQueue: "main-queue", StartToCloseTimeout: time.Minute}
	acme := WithTenant(context.Background(), "acme")

	h := newHarnessFor(t, activityRegistry(t), cfg)
	got, err := h.startActivity(acme, "Unregistered", opts)
	require.NoError(t, err)
	assert.Equal(t, opts, *got, "an unregistered activity type is left alone")
	assert.Equal(t, "RouteActivity", h.lastSpan(t).Name(), "unregistered types do not name spans")
	assert.Equal(t, "unregistered", attrs(h.lastSpan(t))[AttrReason].AsString())

	explicit := opts
	explicit.TaskQueue = "billing"
	got, err = h.startActivity(acme, "SendWelcomeEmail", explicit)
	require.NoError(t, err)
	assert.Equal(t, explicit, *got, "an explicit queue is left alone")

	_, err = h.out.ExecuteActivity(acme, &sdkinterceptor.ClientExecuteActivityInput{ActivityType: "SendWelcomeEmail"})
	require.NoError(t, err, "nil options reach the SDK, which reports them")

	for _, tt := range []struct {
		name  string
		ctx   context.Context
		typ   string
		opts  []Option
		want  error
		etype string
	}{
		{"missing tenant", context.Background(), "SendWelcomeEmail", nil, ErrMissingTenant, "missing_tenant"},
		{"invalid tenant", WithTenant(context.Background(), " x"), "SendWelcomeEmail", nil, ErrInvalidTenant, "invalid_tenant"},
		{"tenant func disagrees", acme, "SendWelcomeEmail", []Option{WithTenantFunc(func(context.Context, string) (string, error) { return "globex", nil })}, ErrTenantMismatch, "tenant_mismatch"},
		{"unregistered refused", acme, "Unregistered", []Option{WithRefuseUnregistered()}, ErrUnregisteredActivity, "unregistered_activity"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessFor(t, activityRegistry(t), cfg, tt.opts...)
			got, err := h.startActivity(tt.ctx, tt.typ, opts)
			require.ErrorIs(t, err, tt.want)
			var re *RouteError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, RouteError{Path: "ExecuteActivity", WorkflowType: tt.typ, TaskQueue: "main-queue", Err: re.Err}, *re)
			assert.Nil(t, got)
			assert.Zero(t, h.next.calls, "a refused start must not reach the next interceptor")
			span := h.lastSpan(t)
			assert.Equal(t, codes.Error, span.Status().Code)
			assert.Equal(t, tt.etype, attrs(span)[AttrErrorType].AsString())
		})
	}
}

func TestStandaloneActivityShadowMode(t *testing.T) {
	h := newHarnessFor(t, activityRegistry(t), routing.Config{Prefix: "saas", Shards: shards}, WithShadowMode())
	opts := client.StartActivityOptions{ID: "a1", TaskQueue: "main-queue", StartToCloseTimeout: time.Minute}
	got, err := h.startActivity(context.Background(), "SendWelcomeEmail", opts)
	require.NoError(t, err, "shadow mode refuses nothing")
	assert.Equal(t, opts, *got)
	assert.Equal(t, "shadow", attrs(h.lastSpan(t))[AttrDecision].AsString())
}

// TestSDKClientSendsRoutedActivity: what a real SDK client puts on the wire
// for a standalone activity: the routed queue, the fairness key and the
// tenant header that the worker side reads back into the activity's context.
func TestSDKClientSendsRoutedActivity(t *testing.T) {
	router, err := New(activityRegistry(t), routing.Config{Prefix: "saas", Shards: shards})
	require.NoError(t, err)
	c, w := wireClient(t, router)
	opts := client.StartActivityOptions{ID: "a1", TaskQueue: "main-queue", StartToCloseTimeout: time.Minute}

	_, err = c.ExecuteActivity(context.Background(), opts, "SendWelcomeEmail")
	require.ErrorIs(t, err, ErrMissingTenant)
	require.Empty(t, w.sent(), "a refused activity sends nothing")

	_, err = c.ExecuteActivity(WithTenant(context.Background(), "acme"), opts, "SendWelcomeEmail")
	require.NoError(t, err)
	sent := w.sent()
	require.Len(t, sent, 1)
	req := sent[0].(*workflowservice.StartActivityExecutionRequest)
	assert.Equal(t, vectors.Queue(t, "acme", shards), req.GetTaskQueue().GetName())
	assert.Equal(t, "acme", req.GetPriority().GetFairnessKey())
	var tenant string
	err = converter.GetDefaultDataConverter().FromPayload(req.GetHeader().GetFields()[tenantHeader], &tenant)
	require.NoError(t, err)
	assert.Equal(t, "acme", tenant)
}
