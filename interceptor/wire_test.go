package interceptor

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/tqrouter/tqrouter/internal/vectors"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// wire records the requests a real SDK client sends and answers them with
// empty responses, so that a test sees exactly what would reach the server.
// What the server then does with them is proven by the end-to-end tests.
type wire struct {
	mu   sync.Mutex // protects reqs
	reqs []proto.Message
}

func (w *wire) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if !strings.HasSuffix(method, "/GetSystemInfo") {
		w.mu.Lock()
		w.reqs = append(w.reqs, proto.Clone(req.(proto.Message)))
		w.mu.Unlock()
	}
	return nil
}

func (w *wire) sent() []proto.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]proto.Message(nil), w.reqs...)
}

// dialWire is the one SDK client of the unit tests: made with opts, it
// never dials, and w records every request it sends.
func dialWire(t *testing.T, w *wire, opts client.Options) client.Client {
	t.Helper()
	opts.HostPort = "127.0.0.1:1" // never dialled
	opts.ConnectionOptions.DialOptions = append(opts.ConnectionOptions.DialOptions, grpc.WithUnaryInterceptor(w.intercept))
	c, err := client.NewLazyClient(opts)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// wireClient is dialWire with router as the client's interceptor.
func wireClient(t *testing.T, router *Router) (client.Client, *wire) {
	t.Helper()
	w := &wire{}
	return dialWire(t, w, client.Options{Interceptors: []sdkinterceptor.ClientInterceptor{router}}), w
}

func TestSDKClientSendsRoutedRequests(t *testing.T) {
	router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: shards})
	require.NoError(t, err)
	c, w := wireClient(t, router)
	ctx := WithTenant(context.Background(), "acme")
	want := vectors.Queue(t, "acme", shards)

	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "main-queue"}, "UserOnboardingWorkflow")
	require.NoError(t, err)
	_, err = c.SignalWithStartWorkflow(ctx, "sig-wf", "go", nil, client.StartWorkflowOptions{TaskQueue: "main-queue"}, "TenantProvisioningWorkflow")
	require.NoError(t, err)
	_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:     "cleanup",
		Spec:   client.ScheduleSpec{},
		Action: &client.ScheduleWorkflowAction{ID: "cleanup-run", Workflow: "TokenCleanupWorkflow", TaskQueue: "main-queue"},
	})
	require.NoError(t, err)
	op, err := router.NewWithStartWorkflowOperation(ctx, c, client.StartWorkflowOptions{ID: "uws", TaskQueue: "main-queue", WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}, "TenantDeletionWorkflow")
	require.NoError(t, err)
	_, _ = c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op, UpdateOptions: client.UpdateWorkflowOptions{UpdateName: "u", WaitForStage: client.WorkflowUpdateStageAccepted}})

	sent := w.sent()
	require.Len(t, sent, 4)
	start := sent[0].(*workflowservice.StartWorkflowExecutionRequest)
	assert.Equal(t, want, start.GetTaskQueue().GetName())
	assert.Equal(t, "acme", start.GetPriority().GetFairnessKey())

	swst := sent[1].(*workflowservice.SignalWithStartWorkflowExecutionRequest)
	assert.Equal(t, want, swst.GetTaskQueue().GetName())
	assert.Equal(t, "acme", swst.GetPriority().GetFairnessKey())

	sched := sent[2].(*workflowservice.CreateScheduleRequest)
	action := sched.GetSchedule().GetAction().GetStartWorkflow()
	assert.Equal(t, "saas.jobs.00", action.GetTaskQueue().GetName())
	assert.Empty(t, action.GetPriority().GetFairnessKey())

	multi := sent[3].(*workflowservice.ExecuteMultiOperationRequest)
	uws := multi.GetOperations()[0].GetStartWorkflow()
	assert.Equal(t, want, uws.GetTaskQueue().GetName())
	assert.Equal(t, "acme", uws.GetPriority().GetFairnessKey())
}

func TestSDKClientSendsNothingWhenRefused(t *testing.T) {
	router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: shards})
	require.NoError(t, err)
	c, w := wireClient(t, router)
	ctx := context.Background()

	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "main-queue"}, "UserOnboardingWorkflow")
	assert.ErrorIs(t, err, ErrMissingTenant)
	_, err = c.ExecuteWorkflow(WithTenant(ctx, "a"), client.StartWorkflowOptions{TaskQueue: "main-queue", Memo: map[string]any{"tenant_id": "b"}}, "UserOnboardingWorkflow")
	assert.ErrorIs(t, err, ErrTenantMismatch)
	_, err = c.SignalWithStartWorkflow(ctx, "id", "go", nil, client.StartWorkflowOptions{TaskQueue: "main-queue"}, "TenantProvisioningWorkflow")
	assert.ErrorIs(t, err, ErrMissingTenant)
	_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: "s", Action: &client.ScheduleWorkflowAction{Workflow: "UserOnboardingWorkflow", TaskQueue: "main-queue"}})
	assert.ErrorIs(t, err, ErrMissingTenant)
	raw := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: "uws", TaskQueue: "main-queue", WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}, "UserOnboardingWorkflow")
	_, err = c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: raw, UpdateOptions: client.UpdateWorkflowOptions{UpdateName: "u", WaitForStage: client.WorkflowUpdateStageAccepted}})
	assert.ErrorIs(t, err, ErrUnroutedUpdateWithStart)

	assert.Empty(t, w.sent(), "a refused start must send nothing")
}
