// Package saasapp is the multi-tenant SaaS backend of the examples and the
// end-to-end tests: the product's four workflow types, each doing its work
// in one activity, and reporting where it ran and how long it waited.
package saasapp

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tqrouter/tqrouter/interceptor"
)

// Input is the argument of every workflow of the app.
type Input struct {
	// Work is how long the workflow's activity works.
	Work time.Duration
	// WaitForPing keeps the workflow open until it receives the "ping"
	// update, for update-with-start.
	WaitForPing bool
	// Child, if set, is the type of a child workflow to start on
	// ChildQueue ("" inherits the parent's queue) before finishing.
	Child, ChildQueue string
	// ContinueAsNewOn, if set, makes the first run continue as new on this
	// task queue, as code written before routing would name main-queue.
	ContinueAsNewOn string
	// ActivityQueue, if set, is the task queue the workflow names for its
	// activity, as code written before routing would name main-queue.
	ActivityQueue string
	// Hold keeps the workflow open for this long after its work, so that
	// tests can change things while it runs.
	Hold time.Duration
}

// Output is what a workflow reports.
type Output struct {
	// WorkflowQueue is the task queue the workflow ran on, as the worker saw it.
	WorkflowQueue string
	// ActivityQueue is the task queue its activity ran on.
	ActivityQueue string
	// ActivityWait is the activity's own schedule-to-start time.
	ActivityWait time.Duration
	// Waited is how long the workflow waited before a worker began its
	// work: from the workflow's start to its activity's start, both server
	// timestamps. It covers the workflow task's and the activity's queueing.
	Waited time.Duration
	// ActivityStarted is when the server handed the activity to a worker.
	ActivityStarted time.Time
	// Finished is when the workflow finished its work: the start of its
	// last workflow task (workflow.Now), milliseconds before the server
	// records its completion. Zero for a workflow that continued as new.
	Finished time.Time
	// Tenant is the tenant the activity saw in its context.
	Tenant string
	// ActivityFairnessKey is the fairness key of the activity task, as the
	// server handed it to the worker.
	ActivityFairnessKey string
	// Child is the output of the child workflow, if one was started.
	Child *Output
}

// WorkActivity is the registered name of [Work], the one activity of every
// workflow of the app.
const WorkActivity = "Work"

// PingUpdate is the update the workflows answer.
const PingUpdate = "ping"

// Register registers the app's workflows and activities on w.
func Register(w worker.Registry) {
	RegisterWorkflows(w)
	w.RegisterActivity(Work)
}

// RegisterWorkflows registers the app's workflows on w, a worker or a
// replayer.
func RegisterWorkflows(w worker.WorkflowRegistry) {
	w.RegisterWorkflow(UserOnboardingWorkflow)
	w.RegisterWorkflow(TenantProvisioningWorkflow)
	w.RegisterWorkflow(TenantDeletionWorkflow)
	w.RegisterWorkflow(TokenCleanupWorkflow)
}

// UserOnboardingWorkflow onboards a user of a tenant.
func UserOnboardingWorkflow(ctx workflow.Context, in Input) (Output, error) { return run(ctx, in) }

// TenantProvisioningWorkflow provisions a tenant.
func TenantProvisioningWorkflow(ctx workflow.Context, in Input) (Output, error) { return run(ctx, in) }

// TenantDeletionWorkflow deletes a tenant.
func TenantDeletionWorkflow(ctx workflow.Context, in Input) (Output, error) { return run(ctx, in) }

// TokenCleanupWorkflow is the system job that expires tokens of all tenants.
func TokenCleanupWorkflow(ctx workflow.Context, in Input) (Output, error) { return run(ctx, in) }

func run(ctx workflow.Context, in Input) (Output, error) {
	pinged := false
	if err := workflow.SetUpdateHandler(ctx, PingUpdate, func(ctx workflow.Context) (string, error) {
		pinged = true
		return workflow.GetInfo(ctx).TaskQueueName, nil
	}); err != nil {
		return Output{}, err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, TaskQueue: in.ActivityQueue})
	var out Output
	if err := workflow.ExecuteActivity(ctx, Work, in.Work).Get(ctx, &out); err != nil {
		return Output{}, err
	}
	if in.WaitForPing {
		if err := workflow.Await(ctx, func() bool { return pinged }); err != nil {
			return Output{}, err
		}
	}
	if in.Hold > 0 {
		if err := workflow.Sleep(ctx, in.Hold); err != nil {
			return Output{}, err
		}
	}
	if in.Child != "" {
		cctx := ctx
		if in.ChildQueue != "" {
			cctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{TaskQueue: in.ChildQueue})
		}
		var child Output
		if err := workflow.ExecuteChildWorkflow(cctx, in.Child, Input{Work: in.Work}).Get(ctx, &child); err != nil {
			return Output{}, err
		}
		out.Child = &child
	}
	if in.ContinueAsNewOn != "" {
		next := in
		next.ContinueAsNewOn = ""
		next.Hold = 0
		return Output{}, workflow.NewContinueAsNewError(workflow.WithWorkflowTaskQueue(ctx, in.ContinueAsNewOn), workflow.GetInfo(ctx).WorkflowType.Name, next)
	}
	info := workflow.GetInfo(ctx)
	out.WorkflowQueue = info.TaskQueueName
	out.Waited = out.ActivityStarted.Sub(info.WorkflowStartTime)
	out.Finished = workflow.Now(ctx)
	return out, nil
}

// Work is the activity: it works for d and reports its queue and wait.
func Work(ctx context.Context, d time.Duration) (Output, error) {
	info := activity.GetInfo(ctx)
	tenant, _ := interceptor.TenantFromContext(ctx)
	out := Output{ActivityQueue: info.TaskQueue, ActivityWait: info.StartedTime.Sub(info.ScheduledTime), ActivityStarted: info.StartedTime, Tenant: tenant, ActivityFairnessKey: info.Priority.FairnessKey}
	select {
	case <-time.After(d):
		return out, nil
	case <-ctx.Done():
		return out, ctx.Err()
	}
}

// Meter counts the [Work] activities that run at once on the workers it is
// registered with: the activities count themselves, so the count is what
// really ran, whatever the workers' slot settings say. A zero Meter is ready
// to use and safe for concurrent use; give each measured run its own.
type Meter struct {
	mu            sync.Mutex // protects running and peak
	running, peak int
}

// Register registers the app's workflows on w, and [Work] counted by m.
func (m *Meter) Register(w worker.Registry) {
	RegisterWorkflows(w)
	w.RegisterActivityWithOptions(m.work, activity.RegisterOptions{Name: WorkActivity})
}

// Peak returns the most activities that ran at once.
func (m *Meter) Peak() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}

// Running returns how many activities run now.
func (m *Meter) Running() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running
}

func (m *Meter) work(ctx context.Context, d time.Duration) (Output, error) {
	m.mu.Lock()
	m.running++
	m.peak = max(m.peak, m.running)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running--
		m.mu.Unlock()
	}()
	return Work(ctx, d)
}
