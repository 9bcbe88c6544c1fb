package interceptor

import (
	"context"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// workflowTenantKey is the workflow.Context key of the workflow's tenant.
type workflowTenantKey struct{}

// WorkflowTenant returns the tenant of the running workflow when the router
// is a worker interceptor; ok is false for a workflow without one (a system
// job, or an unrouted start).
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
	tenantErr error           // why a routed workflow's tenant cannot be read
	parent    context.Context // carries the workflow's trace, if it has one
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
	if w.tenant != "" {
		ctx = workflow.WithValue(ctx, workflowTenantKey{}, w.tenant)
	}
	return w.Next.ExecuteWorkflow(ctx, in)
}

// workflowTenant reads a workflow's tenant from its start, in order: the
// router's header (every start the router routes since it has one), the
// memo field (a caller's memo, or a start routed before the header), and,
// on a queue this router routes to, the fairness key when it is the ID
// itself. A workflow on a routed queue of a tenant-scoped kind whose tenant
// none of them gives has an error instead: its tenant-scoped starts are
// refused with it rather than left on the legacy queue.
func (r *Router) workflowTenant(header map[string]*commonpb.Payload, info *workflow.Info) (string, error) {
	tenant, ok, herr := r.headerTenant(header)
	if ok && herr == nil {
		return tenant, nil
	}
	var merr error
	if p, ok := info.Memo.GetFields()[r.opts.memoKey]; ok {
		if tenant, merr = r.payloadTenant(p, fmt.Sprintf("memo field %q", r.opts.memoKey)); merr == nil && tenant != "" {
			return tenant, nil
		}
	}
	dest, routed := routing.ParseTaskQueue(r.table.Config().Prefix, info.TaskQueueName)
	if !routed || !dest.Kind.TenantScoped() {
		return "", nil // a job, or a workflow started before the rollout
	}
	if key := info.Priority.FairnessKey; key != "" && key == routing.FairnessKey(key) && !isDerivedKey(key) {
		return key, nil
	}
	cause := "no tenant header, memo field or fairness key"
	switch {
	case herr != nil:
		cause = herr.Error()
	case merr != nil:
		cause = merr.Error()
	}
	return "", fmt.Errorf("%w: the workflow runs on routed queue %q but its tenant cannot be read (%s)", ErrMissingTenant, info.TaskQueueName, cause)
}

// isDerivedKey reports whether a fairness key is the derived key of an ID
// too long to be its own: it names the tenant only through a hash.
func isDerivedKey(key string) bool {
	return len(key) == routing.MaxFairnessKeyLen && strings.HasPrefix(key, "sha256:")
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
	s.untraced = workflow.IsReplaying(ctx)
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
	ctx = w.routeActivity(ctx, activityType)
	if err := w.in.root.setTenantHeader(sdkinterceptor.WorkflowHeader(ctx), w.in.tenant); err != nil {
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

// routeActivity keeps an activity off the legacy queue. Workflow code that
// names the legacy queue in its activity options means "the queue we all
// run on"; once the workflow runs on a routed queue, that is its own queue,
// whose workers have its activities; the server gives a queued activity
// task the workflow's fairness key. A workflow still on the legacy queue
// leaves its activities there. The decision depends on the history only,
// so replay makes the same one; it is recorded the first time only.
func (w *workflowOutbound) routeActivity(ctx workflow.Context, activityType string) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	r := w.in.root
	if opts.TaskQueue == "" || !r.isLegacy(opts.TaskQueue) {
		return ctx
	}
	own := workflow.GetInfo(ctx).TaskQueueName
	v := verdict{out: outcome{decision: Routed}, tenant: w.in.tenant, reason: reasonWorkflowQueue}
	dest, routed := routing.ParseTaskQueue(r.table.Config().Prefix, own)
	if routed {
		v.route = routing.Route{Kind: dest.Kind, Role: dest.Role, Shard: dest.Index, TaskQueue: own}
	} else {
		v.out.decision, v.reason = Passthrough, reasonWorkflowOnLegacy
	}
	if !workflow.IsReplaying(ctx) {
		d := v.out.decision
		if r.opts.shadow {
			d = Shadow
		}
		sctx, span := r.tracer.Start(w.routeCtx(), r.spanName(activityType, true, true), r.spanOpts...)
		r.record(sctx, span, start{path: "ExecuteActivity", workflowType: activityType, taskQueue: opts.TaskQueue, activity: true}, d, v, nil)
		span.End()
	}
	if !routed || r.opts.shadow {
		return ctx
	}
	opts.TaskQueue = own
	return workflow.WithActivityOptions(ctx, opts)
}

type activityInbound struct {
	sdkinterceptor.ActivityInboundInterceptorBase
	root *Router
}

// ExecuteActivity puts the workflow's tenant into the activity's context, so
// that TenantFromContext works there and workflows the activity starts are
// routed for the same tenant.
func (a *activityInbound) ExecuteActivity(ctx context.Context, in *sdkinterceptor.ExecuteActivityInput) (any, error) {
	if tenant, ok, err := a.root.headerTenant(sdkinterceptor.Header(ctx)); ok && err == nil && tenant != "" {
		ctx = WithTenant(ctx, tenant)
	}
	return a.Next.ExecuteActivity(ctx, in)
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
