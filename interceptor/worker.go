package interceptor

import (
	"context"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// workflowTenantKey is the workflow.Context key of the workflow's tenant.
type workflowTenantKey struct{}

// WorkflowTenant returns the tenant of the running workflow when the router
// is a worker interceptor; ok is false for a workflow without one (a system
// job, or an unrouted start), and for one whose tenant cannot be read (its
// header, memo field and fairness key disagree, or one is invalid: see
// docs/tenants.md).
func WorkflowTenant(ctx workflow.Context) (tenant string, ok bool) {
	tenant, _ = ctx.Value(workflowTenantKey{}).(string)
	return tenant, tenant != ""
}

// InterceptWorkflow implements the SDK's WorkerInterceptor.
func (r *Router) InterceptWorkflow(ctx workflow.Context, next sdkinterceptor.WorkflowInboundInterceptor) sdkinterceptor.WorkflowInboundInterceptor {
	in := &workflowInbound{root: r}
	in.Next = next
	return in
}

// InterceptActivity implements the SDK's WorkerInterceptor.
func (r *Router) InterceptActivity(ctx context.Context, next sdkinterceptor.ActivityInboundInterceptor) sdkinterceptor.ActivityInboundInterceptor {
	in := &activityInbound{root: r}
	in.Next = next
	return in
}

type workflowInbound struct {
	sdkinterceptor.WorkflowInboundInterceptorBase
	root *Router
	// Read from the workflow's start (header, memo, priority, queue), all
	// recorded in history: replay-safe.
	tenant    string
	tenantErr error           // why its tenant cannot be read (see Router.workflowTenant)
	parent    context.Context // carries the workflow's trace, if it has one
	// counted: the hot-tenant detector counted this workflow, at its start
	// through this router's client or at an activity it scheduled here.
	// Not replay-safe, and never needs to be: it decides what is counted,
	// never a command.
	counted bool
}

func (w *workflowInbound) Init(outbound sdkinterceptor.WorkflowOutboundInterceptor) error {
	out := &workflowOutbound{in: w}
	out.Next = outbound
	return w.Next.Init(out)
}

// ExecuteWorkflow finds the workflow's tenant and trace before it runs.
func (w *workflowInbound) ExecuteWorkflow(ctx workflow.Context, in *sdkinterceptor.ExecuteWorkflowInput) (any, error) {
	header := sdkinterceptor.WorkflowHeader(ctx)
	info := workflow.GetInfo(ctx)
	w.tenant, w.tenantErr = w.root.workflowTenant(header, info)
	w.parent = parentContext(header)
	w.counted = w.root.countedHere(header)
	if w.tenant != "" {
		ctx = workflow.WithValue(ctx, workflowTenantKey{}, w.tenant)
	}
	return w.Next.ExecuteWorkflow(ctx, in)
}

// workflowTenant reads a workflow's tenant from its start, all of it
// recorded in history: the router's header (written at every start the
// router routes), the memo field (a caller's, or the router's for an ID
// too long to be its own fairness key) and, on a routed queue of a
// tenant-scoped kind, the fairness key. They are input like any other
// (see resolveTenant): every one that is present must agree, and an empty
// or invalid one is an error, never "no tenant"; a header that a context
// propagator overwrote disagrees with the fairness key and the memo that
// no propagator can write. The error is [ErrMissingTenant] and its cause:
// the workflow's starts are refused with it. A workflow on a routed queue
// of a tenant-scoped kind with no source at all has the error too; one
// elsewhere has no tenant (a job, or a workflow started before the
// rollout).
func (r *Router) workflowTenant(header map[string]*commonpb.Payload, info *workflow.Info) (string, error) {
	dest, routed := routing.ParseTaskQueue(r.prefix, info.TaskQueueName)
	scoped := routed && r.table.TenantScoped(dest.Kind)
	tenant, err := resolveTenant(r.tenantKey(info.TaskQueueName, info.Priority), r.headerSource(header), r.recordedMemoSource(info.Memo))
	switch {
	case err != nil:
		return "", &unreadableTenant{queue: info.TaskQueueName, cause: err}
	case tenant == "" && scoped:
		return "", &unreadableTenant{queue: info.TaskQueueName}
	}
	return tenant, nil
}

type workflowOutbound struct {
	sdkinterceptor.WorkflowOutboundInterceptorBase
	in *workflowInbound
}

// routeCtx is the context of a start made by workflow code: it carries the
// workflow's tenant as if it had been set with WithTenant, and the
// workflow's trace, if it has one, so that the router's spans join it.
func (w *workflowOutbound) routeCtx() context.Context {
	ctx := w.in.parent
	if w.in.tenant != "" {
		ctx = WithTenant(ctx, w.in.tenant)
	}
	return ctx
}

// routeInWorkflow routes a start made by workflow code. It is recorded
// (span, metrics) the first time only, not on replay.
func (w *workflowOutbound) routeInWorkflow(ctx workflow.Context, s start) (outcome, error) {
	s.inWorkflow = true
	s.replaying = workflow.IsReplaying(ctx)
	s.tenantErr = w.in.tenantErr
	return w.in.root.route(w.routeCtx(), s)
}

// header writes the workflow's tenant, and its trace, into the header of a
// start made by workflow code.
func (w *workflowOutbound) header(ctx workflow.Context) error {
	header := sdkinterceptor.WorkflowHeader(ctx)
	injectParent(w.in.parent, header)
	return w.in.root.setTenantHeader(header, w.in.tenant)
}

func (w *workflowOutbound) ExecuteChildWorkflow(ctx workflow.Context, childWorkflowType string, args ...any) workflow.ChildWorkflowFuture {
	opts := workflow.GetChildWorkflowOptions(ctx)
	queue := opts.TaskQueue
	if queue == "" {
		queue = workflow.GetInfo(ctx).TaskQueueName // a child inherits its parent's queue
	}
	priority := opts.Priority
	if priority.FairnessWeight == 0 {
		priority.FairnessWeight = workflow.GetInfo(ctx).Priority.FairnessWeight // the parent's weight
	}
	out, err := w.routeInWorkflow(ctx, start{
		path: "ExecuteChildWorkflow", workflowType: childWorkflowType, taskQueue: queue,
		memo: opts.Memo, priority: priority,
	})
	if err == nil {
		err = w.header(ctx)
	}
	if err != nil {
		return refusedChild(ctx, err)
	}
	if out.rerouted() {
		out.apply(&opts.TaskQueue, &opts.Priority, &opts.Memo)
		ctx = workflow.WithChildOptions(ctx, opts)
	}
	return w.Next.ExecuteChildWorkflow(ctx, childWorkflowType, args...)
}

func (w *workflowOutbound) NewContinueAsNewError(ctx workflow.Context, wfn any, args ...any) error {
	ctx, err := w.routeContinueAsNew(ctx, wfn)
	if err != nil {
		return err
	}
	return w.Next.NewContinueAsNewError(ctx, wfn, args...)
}

func (w *workflowOutbound) NewContinueAsNewErrorWithOptions(ctx workflow.Context, options workflow.ContinueAsNewErrorOptions, wfn any, args ...any) error {
	ctx, err := w.routeContinueAsNew(ctx, wfn)
	if err != nil {
		return err
	}
	return w.Next.NewContinueAsNewErrorWithOptions(ctx, options, wfn, args...)
}

// routeContinueAsNew keeps a continue-as-new off the legacy queue: a run on
// a routed queue continues there by default, but code that names the legacy
// queue (workflow.WithWorkflowTaskQueue) is routed like a start. Memo and
// priority carry over to the new run, and the router's header is written
// again. The SDK (v1.51) cannot set a continue-as-new's priority, so a run
// started before the rollout (with no fairness key) continues on its
// tenant's shard without one.
func (w *workflowOutbound) routeContinueAsNew(ctx workflow.Context, wfn any) (workflow.Context, error) {
	queue := workflow.GetChildWorkflowOptions(ctx).TaskQueue
	if queue == "" {
		queue = workflow.GetInfo(ctx).TaskQueueName
	}
	workflowType := workflow.GetInfo(ctx).WorkflowType.Name
	if name, ok := wfn.(string); ok {
		workflowType = name
	} else if name, err := registry.TypeName(wfn); err == nil {
		workflowType = name
	}
	out, err := w.routeInWorkflow(ctx, start{
		path: "ContinueAsNew", workflowType: workflowType, taskQueue: queue,
		priority: workflow.GetInfo(ctx).Priority,
	})
	if err == nil {
		err = w.header(ctx)
	}
	if err != nil {
		return ctx, err
	}
	if out.rerouted() {
		ctx = workflow.WithWorkflowTaskQueue(ctx, out.taskQueue)
	}
	return ctx, nil
}

func (w *workflowOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	ctx, err := w.routeActivity(ctx, activityType)
	if err == nil {
		err = w.in.root.setTenantHeader(sdkinterceptor.WorkflowHeader(ctx), w.in.tenant)
	}
	if err != nil {
		return failedFuture(ctx, err)
	}
	return w.Next.ExecuteActivity(ctx, activityType, args...)
}

func (w *workflowOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	if err := w.in.root.setTenantHeader(sdkinterceptor.WorkflowHeader(ctx), w.in.tenant); err != nil {
		return failedFuture(ctx, err)
	}
	return w.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

// routeActivity decides an activity of the workflow (see
// Router.activityStart and Router.decideWorkflowActivity). One bound for
// the workflow's own queue is decided only the first time, not on replay,
// and keeps its options unless its tenant is hot.
func (w *workflowOutbound) routeActivity(ctx workflow.Context, activityType string) (workflow.Context, error) {
	opts := workflow.GetActivityOptions(ctx)
	s, ok := w.in.root.activityStart(activityType, opts.TaskQueue, workflow.GetInfo(ctx).TaskQueueName)
	if !ok || s.quiet && workflow.IsReplaying(ctx) {
		return ctx, nil
	}
	s.countedBefore = w.in.counted
	out, err := w.routeInWorkflow(ctx, s)
	if out.counted {
		w.in.counted = true
	}
	if err != nil || !out.rerouted() || s.quiet && out.taskQueue == s.ownQueue {
		return ctx, err
	}
	opts.TaskQueue = out.taskQueue
	return workflow.WithActivityOptions(ctx, opts), nil
}

// activityStart is the start of an activity of activityType that workflow
// code schedules naming queue, from a workflow on ownQueue; ok is false
// when the router does not decide it. One that names a legacy queue moves
// to the workflow's own queue, once the workflow is routed; one bound for
// the workflow's own queue (no queue named, or its name) stays there
// unless its tenant is hot (quiet: recorded only if moved), so only a
// router with hot-tenant isolation decides it. One that names any other
// queue is not the router's to decide.
func (r *Router) activityStart(activityType, queue, ownQueue string) (s start, ok bool) {
	s = start{
		path: "ExecuteActivity", workflowType: activityType, taskQueue: queue,
		subject: activitySubject, inWorkflow: true, ownQueue: ownQueue,
	}
	switch {
	case queue != "" && r.isLegacy(queue):
	case (queue == "" || queue == ownQueue) && r.hot != nil:
		s.quiet = true
	default:
		return s, false
	}
	return s, true
}

type activityInbound struct {
	sdkinterceptor.ActivityInboundInterceptorBase
	root *Router
}

// ExecuteActivity puts the workflow's tenant into the activity's context, so
// that TenantFromContext works there and workflows the activity starts are
// routed for the same tenant.
func (a *activityInbound) ExecuteActivity(ctx context.Context, in *sdkinterceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	if tenant, err := a.root.activityTenant(sdkinterceptor.Header(ctx), info.TaskQueue, info.Priority); err == nil && tenant != "" {
		ctx = WithTenant(ctx, tenant)
	}
	return a.Next.ExecuteActivity(ctx, in)
}

// activityTenant reads an activity's tenant from its header and, on a
// routed queue of a tenant-scoped kind, its fairness key, by the rule of
// workflowTenant (an activity has no memo). An activity whose sources
// disagree, or hold an invalid value, gets no tenant: the tenant-scoped
// workflows it starts are refused.
func (r *Router) activityTenant(header map[string]*commonpb.Payload, queue string, priority temporal.Priority) (string, error) {
	return resolveTenant(r.tenantKey(queue, priority), r.headerSource(header))
}

// tenantKey is the fairness key of a workflow or activity when it is a
// tenant source: on a routed queue of a tenant-scoped kind, where only the
// router puts starts with a key; "" elsewhere, where a key is the caller's
// own business.
func (r *Router) tenantKey(queue string, priority temporal.Priority) string {
	if dest, routed := routing.ParseTaskQueue(r.prefix, queue); routed && r.table.TenantScoped(dest.Kind) {
		return priority.FairnessKey
	}
	return ""
}

// refusedChild is the future of a child workflow the router refused: it is
// ready at once with the refusal, and nothing was sent to the server.
func refusedChild(ctx workflow.Context, err error) workflow.ChildWorkflowFuture {
	return failedChild{Future: failedFuture(ctx, err)}
}

func failedFuture(ctx workflow.Context, err error) workflow.Future {
	f, set := workflow.NewFuture(ctx)
	set.SetError(err)
	return f
}

type failedChild struct {
	workflow.Future
}

func (c failedChild) GetChildWorkflowExecution() workflow.Future { return c.Future }

func (c failedChild) SignalChildWorkflow(workflow.Context, string, any) workflow.Future {
	return c.Future
}

func (c failedChild) SignalChildWorkflowWithOptions(workflow.Context, string, any, workflow.SignalChildWorkflowOptions) workflow.Future {
	return c.Future
}
