package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/internal/vectors"
	"github.com/tqrouter/tqrouter/routing"
)

// The four workflow types of the product, as unchanged call sites start them.
var workflowTypes = []struct {
	name     string
	fn       any
	tenanted bool
}{
	{"UserOnboardingWorkflow", saasapp.UserOnboardingWorkflow, true},
	{"TenantProvisioningWorkflow", saasapp.TenantProvisioningWorkflow, true},
	{"TenantDeletionWorkflow", saasapp.TenantDeletionWorkflow, true},
	{"TokenCleanupWorkflow", saasapp.TokenCleanupWorkflow, false},
}

// startPath starts fn naming main-queue through one client start path, and
// returns the ID of the workflow it started and its output once completed.
type startPath func(t *testing.T, ctx context.Context, router *interceptor.Router, c client.Client, id string, fn any, memo map[string]any) (string, saasapp.Output)

var startPaths = []struct {
	name  string
	start startPath
}{
	{"ExecuteWorkflow", func(t *testing.T, ctx context.Context, _ *interceptor.Router, c client.Client, id string, fn any, memo map[string]any) (string, saasapp.Output) {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue", Memo: memo}, fn, saasapp.Input{})
		require.NoError(t, err)
		var out saasapp.Output
		require.NoError(t, run.Get(ctx, &out))
		return id, out
	}},
	{"SignalWithStartWorkflow", func(t *testing.T, ctx context.Context, _ *interceptor.Router, c client.Client, id string, fn any, memo map[string]any) (string, saasapp.Output) {
		run, err := c.SignalWithStartWorkflow(ctx, id, "hello", "world", client.StartWorkflowOptions{TaskQueue: "main-queue", Memo: memo}, fn, saasapp.Input{})
		require.NoError(t, err)
		var out saasapp.Output
		require.NoError(t, run.Get(ctx, &out))
		return id, out
	}},
	{"UpdateWithStartWorkflow", func(t *testing.T, ctx context.Context, router *interceptor.Router, c client.Client, id string, fn any, memo map[string]any) (string, saasapp.Output) {
		op, err := router.NewWithStartWorkflowOperation(ctx, c, client.StartWorkflowOptions{
			ID: id, TaskQueue: "main-queue", Memo: memo,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, fn, saasapp.Input{WaitForPing: true})
		require.NoError(t, err)
		handle, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: op,
			UpdateOptions:          client.UpdateWorkflowOptions{UpdateName: saasapp.PingUpdate, WaitForStage: client.WorkflowUpdateStageCompleted},
		})
		require.NoError(t, err)
		var updateQueue string
		require.NoError(t, handle.Get(ctx, &updateQueue))
		run, err := op.Get(ctx)
		require.NoError(t, err)
		var out saasapp.Output
		require.NoError(t, run.Get(ctx, &out))
		assert.Equal(t, out.WorkflowQueue, updateQueue, "the update ran on the routed queue")
		return id, out
	}},
	{"Schedule", func(t *testing.T, ctx context.Context, _ *interceptor.Router, c client.Client, id string, fn any, memo map[string]any) (string, saasapp.Output) {
		handle, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
			ID:                 id + "-schedule",
			Spec:               client.ScheduleSpec{},
			Action:             &client.ScheduleWorkflowAction{ID: id, Workflow: fn, TaskQueue: "main-queue", Memo: memo, Args: []any{saasapp.Input{}}},
			TriggerImmediately: true,
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = handle.Delete(context.Background()) })
		var workflowID string
		require.Eventually(t, func() bool {
			desc, err := handle.Describe(ctx)
			if err != nil || len(desc.Info.RecentActions) == 0 {
				return false
			}
			workflowID = desc.Info.RecentActions[0].StartWorkflowResult.WorkflowID
			return true
		}, time.Minute, 100*time.Millisecond, "the schedule never fired")
		var out saasapp.Output
		require.NoError(t, c.GetWorkflow(ctx, workflowID, "").Get(ctx, &out))
		return workflowID, out // the server appends the fire time to the action's ID
	}},
}

// TestEveryStartPathIsRoutedOnTheServer starts each workflow type through
// each start path naming main-queue, and reads back from the server the
// queue and priority it recorded; workers on the routed queues complete
// every workflow.
func TestEveryStartPathIsRoutedOnTheServer(t *testing.T) {
	const shards = 7
	// Each tenant starts a dozen workflows here, enough to count as hot;
	// this test is about the shard routes (TestHotTenantGoesToOverflow is
	// about the overflow queue).
	router, c := newRouter(t, routing.Config{Prefix: "saas", Shards: shards}, interceptor.WithoutHotTenants(),
		interceptor.WithWeightFunc(func(_ context.Context, tenant string) float32 {
			if tenant == "acme" {
				return 2.5
			}
			return 0
		}))
	pollRoutedQueues(t, router)

	tenants := []string{"acme", "tenant-ü-☃"}
	for _, path := range startPaths {
		for _, wf := range workflowTypes {
			for i, tenant := range tenants {
				t.Run(path.name+"/"+wf.name+"/"+tenant, func(t *testing.T) {
					ctx := testContext(t)
					id := uniqueID(t, wf.name)
					// Half the starts carry the tenant in the context, half in the memo.
					var memo map[string]any
					if i%2 == 0 {
						ctx = interceptor.WithTenant(ctx, tenant)
					} else if wf.tenanted {
						memo = map[string]any{interceptor.DefaultMemoKey: tenant}
					}
					id, out := path.start(t, ctx, router, c, id, wf.fn, memo)

					got := describe(t, c, id)
					want := "saas.jobs.00"
					if wf.tenanted {
						want = vectors.Queue(t, tenant, shards)
						assert.Equal(t, tenant, got.Priority.GetFairnessKey())
						assert.Equal(t, tenant, out.Tenant, "the activity knows its tenant")
						if tenant == "acme" {
							assert.InDelta(t, 2.5, got.Priority.GetFairnessWeight(), 1e-6)
						}
					} else {
						assert.Empty(t, got.Priority.GetFairnessKey(), "system jobs carry no fairness key")
					}
					assert.Equal(t, want, got.TaskQueue, "queue recorded by the server")
					assert.Equal(t, want, out.WorkflowQueue, "queue the worker ran the workflow on")
					assert.Equal(t, want, out.ActivityQueue, "activities follow their workflow")
				})
			}
		}
	}
}

// TestRefusedStartsLeaveNothingOnTheServer shows that a refusal happens
// before any request: the workflow ID is unknown to the server afterwards.
func TestRefusedStartsLeaveNothingOnTheServer(t *testing.T) {
	_, c := newRouter(t, routing.Config{Prefix: "saas", Shards: 7})
	ctx := testContext(t)
	mismatch := interceptor.WithTenant(ctx, "acme")
	cases := []struct {
		name  string
		start func(id string) error
		want  error
	}{
		{"missing tenant", func(id string) error {
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
			return err
		}, interceptor.ErrMissingTenant},
		{"context and memo disagree", func(id string) error {
			_, err := c.ExecuteWorkflow(mismatch, client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue", Memo: map[string]any{"tenant_id": "globex"}}, saasapp.TenantProvisioningWorkflow, saasapp.Input{})
			return err
		}, interceptor.ErrTenantMismatch},
		{"signal-with-start without tenant", func(id string) error {
			_, err := c.SignalWithStartWorkflow(ctx, id, "s", nil, client.StartWorkflowOptions{TaskQueue: "main-queue"}, saasapp.TenantDeletionWorkflow, saasapp.Input{})
			return err
		}, interceptor.ErrMissingTenant},
		{"update-with-start not made by the router", func(id string) error {
			op := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue", WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
			_, err := c.UpdateWithStartWorkflow(mismatch, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op, UpdateOptions: client.UpdateWorkflowOptions{UpdateName: saasapp.PingUpdate, WaitForStage: client.WorkflowUpdateStageAccepted}})
			return err
		}, interceptor.ErrUnroutedUpdateWithStart},
		{"invalid tenant", func(id string) error {
			_, err := c.ExecuteWorkflow(interceptor.WithTenant(ctx, "\xff"), client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
			return err
		}, interceptor.ErrInvalidTenant},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := uniqueID(t, "refused")
			require.ErrorIs(t, tc.start(id), tc.want)
			_, err := c.DescribeWorkflowExecution(ctx, id, "")
			var notFound *serviceerror.NotFound
			assert.True(t, errors.As(err, &notFound), "workflow %s must not exist, got %v", id, err)
		})
	}

	t.Run("schedule without tenant", func(t *testing.T) {
		id := uniqueID(t, "refused-schedule")
		_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: id, Action: &client.ScheduleWorkflowAction{Workflow: saasapp.UserOnboardingWorkflow, TaskQueue: "main-queue"}})
		require.ErrorIs(t, err, interceptor.ErrMissingTenant)
		_, err = c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		var notFound *serviceerror.NotFound
		assert.True(t, errors.As(err, &notFound), "schedule must not exist, got %v", err)
	})
}

// TestOneShardIsTheSafeFirstRollout: with one shard every tenant lands on
// {prefix}.tenant.00 and jobs on {prefix}.jobs.00.
func TestOneShardIsTheSafeFirstRollout(t *testing.T) {
	router, c := newRouter(t, routing.Config{Prefix: "one", Shards: 1})
	pollRoutedQueues(t, router)
	for _, tenant := range []string{"acme", "38d69f70-d254-41a7-9ebf-aeab054c8c61", "tenant-ü-☃"} {
		for _, wf := range workflowTypes {
			ctx := interceptor.WithTenant(testContext(t), tenant)
			id := uniqueID(t, "one-"+wf.name)
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue"}, wf.fn, saasapp.Input{})
			require.NoError(t, err)
			require.NoError(t, run.Get(ctx, nil))
			want := "one.jobs.00"
			if wf.tenanted {
				want = "one.tenant.00"
			}
			assert.Equal(t, want, describe(t, c, id).TaskQueue, "%s for %s", wf.name, tenant)
		}
	}
}
