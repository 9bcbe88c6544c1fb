package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nexus-rpc/sdk-go/nexus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	nexuspb "go.temporal.io/api/nexus/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/temporalnexus"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/internal/vectors"
	"github.com/tqrouter/tqrouter/routing"
)

const nexusService = "provisioning"

// nexusCallerResult is what nexusCallerWorkflow returns.
type nexusCallerResult struct {
	// OperationToken is the token the handler returned when it started.
	OperationToken string
	// Output is the handler-started workflow's result, delivered to the
	// caller by the server's completion callback.
	Output saasapp.Output
}

// nexusCallerWorkflow calls operation of nexusService on endpoint, as a
// workflow of another team would, and waits for its start and its result.
func nexusCallerWorkflow(ctx workflow.Context, endpoint, operation string) (nexusCallerResult, error) {
	var res nexusCallerResult
	fut := workflow.NewNexusClient(endpoint, nexusService).ExecuteOperation(ctx, operation, saasapp.Input{},
		workflow.NexusOperationOptions{ScheduleToCloseTimeout: 20 * time.Second})
	var exec workflow.NexusOperationExecution
	if err := fut.GetNexusOperationExecution().Get(ctx, &exec); err != nil {
		return res, err
	}
	res.OperationToken = exec.OperationToken
	err := fut.Get(ctx, &res.Output)
	return res, err
}

// TestNexusStartedWorkflowIsRouted: a workflow that a Nexus operation
// handler (temporalnexus) starts naming main-queue is routed, because the
// handler starts it through its worker's client, which has the router; the
// handler's context has no tenant, so the memo names it. A handler that
// names no tenant has its start refused with ErrMissingTenant and nothing is
// started: by default the SDK reports the refusal as a retryable internal
// handler error, so the server retries it until the operation's
// schedule-to-close timeout (whose failure no longer names the cause); a
// handler that turns it into an operation failure fails the caller's
// operation at once. The caller waits for the result too: a worker-target
// endpoint completes through the server's internal callback
// (temporal://system), which needs no extra server config.
func TestNexusStartedWorkflowIsRouted(t *testing.T) {
	const shards = 7
	router, c := newRouter(t, routing.Config{Prefix: "saas", Shards: shards})
	pollRoutedQueues(t, router)
	ctx := testContext(t)

	handlerQueue := uniqueID(t, "nexus-handler")
	endpoint := strings.ReplaceAll(uniqueID(t, "tqrouter-e2e"), ".", "-") // names allow [A-Za-z0-9-]
	created, err := c.OperatorService().CreateNexusEndpoint(ctx, &operatorservice.CreateNexusEndpointRequest{
		Spec: &nexuspb.EndpointSpec{
			Name: endpoint,
			Target: &nexuspb.EndpointTarget{Variant: &nexuspb.EndpointTarget_Worker_{
				Worker: &nexuspb.EndpointTarget_Worker{Namespace: server.Namespace(), TaskQueue: handlerQueue},
			}},
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = c.OperatorService().DeleteNexusEndpoint(context.Background(), &operatorservice.DeleteNexusEndpointRequest{
			Id: created.GetEndpoint().GetId(), Version: created.GetEndpoint().GetVersion(),
		})
	})

	// One workflow ID per operation: an operation's ID must follow from its
	// input, and here each operation is started once.
	routedID := uniqueID(t, "nexus-routed")
	retriedID := uniqueID(t, "nexus-refused-retried")
	failedID := uniqueID(t, "nexus-refused-failed")
	startOptions := func(id string, memo map[string]any) func(context.Context, saasapp.Input, nexus.StartOperationOptions) (client.StartWorkflowOptions, error) {
		return func(context.Context, saasapp.Input, nexus.StartOperationOptions) (client.StartWorkflowOptions, error) {
			return client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue", Memo: memo}, nil
		}
	}
	svc := nexus.NewService(nexusService)
	require.NoError(t, svc.Register(
		temporalnexus.NewWorkflowRunOperation("provision", saasapp.TenantProvisioningWorkflow,
			startOptions(routedID, map[string]any{interceptor.DefaultMemoKey: "acme"})),
		temporalnexus.NewWorkflowRunOperation("provision-no-tenant", saasapp.TenantProvisioningWorkflow,
			startOptions(retriedID, nil)),
		temporalnexus.MustNewWorkflowRunOperationWithOptions(temporalnexus.WorkflowRunOperationOptions[saasapp.Input, saasapp.Output]{
			Name: "provision-no-tenant-final",
			Handler: func(ctx context.Context, in saasapp.Input, opts nexus.StartOperationOptions) (temporalnexus.WorkflowHandle[saasapp.Output], error) {
				h, err := temporalnexus.ExecuteWorkflow(ctx, opts, client.StartWorkflowOptions{ID: failedID, TaskQueue: "main-queue"},
					saasapp.TenantProvisioningWorkflow, in)
				if errors.Is(err, interceptor.ErrMissingTenant) {
					// Retrying cannot supply the tenant: fail the operation.
					return nil, nexus.NewOperationFailedErrorf("provisioning refused: %w", err)
				}
				return h, err
			},
		}),
	))
	// The handler's worker is made from the router's client, so the client
	// it gives the handler (temporalnexus.GetClient) has the router too.
	hw := worker.New(c, handlerQueue, worker.Options{})
	hw.RegisterNexusService(svc)
	require.NoError(t, hw.Start())
	t.Cleanup(hw.Stop)

	// The caller has no router: whatever is routed is routed by the handler.
	caller := dial(t)
	callerQueue := uniqueID(t, "nexus-caller")
	cw := worker.New(caller, callerQueue, worker.Options{})
	cw.RegisterWorkflow(nexusCallerWorkflow)
	require.NoError(t, cw.Start())
	t.Cleanup(cw.Stop)
	call := func(operation string) client.WorkflowRun {
		run, err := caller.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: uniqueID(t, "nexus-caller"), TaskQueue: callerQueue},
			nexusCallerWorkflow, endpoint, operation)
		require.NoError(t, err)
		return run
	}
	assertNoWorkflow := func(id string) {
		t.Helper()
		_, err := c.DescribeWorkflowExecution(ctx, id, "")
		var notFound *serviceerror.NotFound
		assert.True(t, errors.As(err, &notFound), "workflow %s must not exist, got %v", id, err)
	}

	t.Run("routed", func(t *testing.T) {
		run := call("provision")
		require.Eventually(t, func() bool {
			_, err := c.DescribeWorkflowExecution(ctx, routedID, "")
			return err == nil
		}, 10*time.Second, 20*time.Millisecond, "the handler never started the workflow")
		want := vectors.Queue(t, "acme", shards)
		got := describe(t, c, routedID)
		// Checked before waiting: a workflow left on main-queue never completes.
		require.Equal(t, want, got.TaskQueue, "queue recorded by the server")
		assert.Equal(t, "acme", got.Priority.GetFairnessKey())

		var res nexusCallerResult
		require.NoError(t, run.Get(ctx, &res))
		assert.NotEmpty(t, res.OperationToken, "the operation started asynchronously")
		assert.Equal(t, want, res.Output.WorkflowQueue, "queue the worker ran the workflow on")
		assert.Equal(t, "acme", res.Output.Tenant, "the activity knows its tenant")
	})

	t.Run("refused and retried", func(t *testing.T) {
		run := call("provision-no-tenant")
		t.Cleanup(func() { _ = caller.TerminateWorkflow(context.Background(), run.GetID(), "", "test over") })
		// The operation stays scheduled; each attempt is refused before reaching the server.
		var last string
		require.Eventually(t, func() bool {
			resp, err := caller.DescribeWorkflowExecution(ctx, run.GetID(), "")
			if err != nil || len(resp.GetPendingNexusOperations()) == 0 {
				return false
			}
			op := resp.GetPendingNexusOperations()[0]
			last = failureMessages(op.GetLastAttemptFailure())
			return op.GetState() == enumspb.PENDING_NEXUS_OPERATION_STATE_BACKING_OFF && last != ""
		}, 10*time.Second, 50*time.Millisecond, "the operation never failed an attempt")
		assert.Contains(t, last, interceptor.ErrMissingTenant.Error())
		assertNoWorkflow(retriedID)
	})

	t.Run("refused and failed", func(t *testing.T) {
		err := call("provision-no-tenant-final").Get(ctx, nil)
		var opErr *temporal.NexusOperationError
		require.ErrorAs(t, err, &opErr, "the caller's operation failed")
		assert.Contains(t, err.Error(), interceptor.ErrMissingTenant.Error())
		assertNoWorkflow(failedID)
	})
}

// failureMessages joins the messages of a failure and its causes.
func failureMessages(f *failurepb.Failure) string {
	var msgs []string
	for ; f != nil; f = f.GetCause() {
		msgs = append(msgs, f.GetMessage())
	}
	return strings.Join(msgs, ": ")
}
