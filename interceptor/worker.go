package interceptor

import (
	"context"
	"slices"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// tenantHeader is the header that carries the tenant ID from a workflow to
// its activities.
const tenantHeader = "tqrouter-tenant"

// workflowTenantKey is the workflow.Context key of the workflow's tenant.
type workflowTenantKey struct{}

// WorkflowTenant returns the tenant of the running workflow, from its memo,
// when the router is a worker interceptor; ok is false for a workflow
// without one (a system job, or an unrouted start).
func WorkflowTenant(ctx workflow.Context) (tenant string, ok bool) {
	tenant, _ = ctx.Value(workflowTenantKey{}).(string)
	return tenant, tenant != ""
}

// InterceptWorkflow implements the SDK's WorkerInterceptor.
func (i *Interceptor) InterceptWorkflow(ctx workflow.Context, next sdkinterceptor.WorkflowInboundInterceptor) sdkinterceptor.WorkflowInboundInterceptor {
	in := &workflowInbound{root: i}
	in.Next = next
	return in
}

// InterceptActivity implements the SDK's WorkerInterceptor.
func (i *Interceptor) InterceptActivity(ctx context.Context, next sdkinterceptor.ActivityInboundInterceptor) sdkinterceptor.ActivityInboundInterceptor {
	in := &activityInbound{}
	in.Next = next
	return in
}

type workflowInbound struct {
	sdkinterceptor.WorkflowInboundInterceptorBase
	root   *Interceptor
	tenant string // from the memo, recorded in history: replay-safe
}

func (w *workflowInbound) Init(outbound sdkinterceptor.WorkflowOutboundInterceptor) error {
	out := &workflowOutbound{in: w}
	out.Next = outbound
	return w.Next.Init(out)
}

// ExecuteWorkflow finds the workflow's tenant: the memo field if it has one
// (a start of a tenant whose ID is too long to be its own fairness key, or a
// caller's memo), else the fairness key of a workflow on a queue this
// router routes to. Both are recorded in history, so replays see the same.
func (w *workflowInbound) ExecuteWorkflow(ctx workflow.Context, in *sdkinterceptor.ExecuteWorkflowInput) (any, error) {
	info := workflow.GetInfo(ctx)
	if p, ok := info.Memo.GetFields()[w.root.opts.memoKey]; ok {
		// A memo that is not a tenant ID leaves the workflow without one;
		// its starts are then judged as if it had none.
		w.tenant, _ = memoTenant(map[string]any{w.root.opts.memoKey: p}, w.root.opts.memoKey)
	} else if w.root.routesTo(info.TaskQueueName) {
		w.tenant = info.Priority.FairnessKey
	}
	if w.tenant != "" {
		ctx = workflow.WithValue(ctx, workflowTenantKey{}, w.tenant)
	}
	return w.Next.ExecuteWorkflow(ctx, in)
}

type workflowOutbound struct {
	sdkinterceptor.WorkflowOutboundInterceptorBase
	in *workflowInbound
}

// routeCtx is the context of a start made by workflow code: it carries the
// workflow's tenant as if it had been set with WithTenant.
func (w *workflowOutbound) routeCtx() context.Context {
	ctx := context.Background()
	if w.in.tenant != "" {
		ctx = WithTenant(ctx, w.in.tenant)
	}
	return ctx
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
	out, err := w.in.root.routeInWorkflow(ctx, w.routeCtx(), start{
		path: "ExecuteChildWorkflow", workflowType: childWorkflowType, taskQueue: queue,
		memo: opts.Memo, priority: priority, inWorkflow: true,
	})
	if err != nil {
		return refusedChild(ctx, err)
	}
	switch {
	case out.decision == Routed:
		out.apply(&opts.TaskQueue, &opts.Priority, &opts.Memo)
		ctx = workflow.WithChildOptions(ctx, opts)
	case out.decision == Passthrough && w.in.tenant != "":
		// A child left on its queue (say, inheriting the parent's routed
		// queue) still belongs to the parent's tenant.
		if memo := w.in.root.memoWithTenant(opts.Memo, w.in.tenant, routing.FairnessKey(w.in.tenant)); memo != nil {
			opts.Memo = memo
			ctx = workflow.WithChildOptions(ctx, opts)
		}
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
// priority carry over to the new run. The SDK (v1.51) cannot set a
// continue-as-new's priority, so a run started before the rollout (with no
// fairness key) continues on its tenant's shard without one; its tenant
// still travels in its memo.
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
	out, err := w.in.root.routeInWorkflow(ctx, w.routeCtx(), start{
		path: "ContinueAsNew", workflowType: workflowType, taskQueue: queue,
		priority: workflow.GetInfo(ctx).Priority, inWorkflow: true,
	})
	if err != nil {
		return ctx, err
	}
	if out.decision == Routed {
		ctx = workflow.WithWorkflowTaskQueue(ctx, out.taskQueue)
	}
	return ctx, nil
}

func (w *workflowOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	ctx = w.routeActivity(ctx, activityType)
	setTenantHeader(sdkinterceptor.WorkflowHeader(ctx), w.in.tenant)
	return w.Next.ExecuteActivity(ctx, activityType, args...)
}

func (w *workflowOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	setTenantHeader(sdkinterceptor.WorkflowHeader(ctx), w.in.tenant)
	return w.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

// routeActivity keeps an activity off the legacy queue. Workflow code that
// names the legacy queue in its activity options means "the queue we all
// run on"; once the workflow runs on a routed queue, that is its own queue,
// whose workers have its activities; the server gives a queued activity
// task the workflow's fairness key. A workflow still on the legacy queue
// leaves its activities there. The decision depends on the history only,
// so replay makes the same one.
func (w *workflowOutbound) routeActivity(ctx workflow.Context, activityType string) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	i := w.in.root
	if opts.TaskQueue == "" || !slices.Contains(i.opts.legacyQueues, opts.TaskQueue) {
		return ctx
	}
	own := workflow.GetInfo(ctx).TaskQueueName
	decision, reason := Routed, reasonWorkflowQueue
	if !i.routesTo(own) {
		decision, reason, own = Passthrough, reasonWorkflowOnLegacy, ""
	}
	if i.opts.shadow {
		decision = Shadow
	}
	if !workflow.IsReplaying(ctx) {
		_, span := i.tracer.Start(w.routeCtx(), i.spanName(activityType, true, true), i.spanOpts...)
		if span.IsRecording() {
			s := start{path: "ExecuteActivity", workflowType: activityType, taskQueue: opts.TaskQueue, activity: true}
			r := routing.Route{TaskQueue: own, Shard: -1}
			if kind, shard, ok := routing.ParseTaskQueue(i.table.Config().Prefix, own); ok {
				r.Kind, r.Shard = kind, shard
			}
			i.annotate(span, s, decision, r, w.in.tenant, reason, nil)
		}
		span.End()
	}
	if decision != Routed {
		return ctx
	}
	opts.TaskQueue = own
	return workflow.WithActivityOptions(ctx, opts)
}

// setTenantHeader writes tenant into the header of an activity start.
func setTenantHeader(header map[string]*commonpb.Payload, tenant string) {
	if tenant == "" || header == nil {
		return
	}
	if p, err := converter.GetDefaultDataConverter().ToPayload(tenant); err == nil {
		header[tenantHeader] = p
	}
}

type activityInbound struct {
	sdkinterceptor.ActivityInboundInterceptorBase
}

// ExecuteActivity puts the workflow's tenant into the activity's context, so
// that TenantFromContext works there and workflows the activity starts are
// routed for the same tenant.
func (a *activityInbound) ExecuteActivity(ctx context.Context, in *sdkinterceptor.ExecuteActivityInput) (any, error) {
	if p, ok := sdkinterceptor.Header(ctx)[tenantHeader]; ok {
		if tenant, err := payloadString(p); err == nil && tenant != "" {
			ctx = WithTenant(ctx, tenant)
		}
	}
	return a.Next.ExecuteActivity(ctx, in)
}

func payloadString(p *commonpb.Payload) (string, error) {
	var s string
	err := converter.GetDefaultDataConverter().FromPayload(p, &s)
	return s, err
}

// routeInWorkflow routes a start made by workflow code. Its span is
// recorded the first time only, not on replay.
func (i *Interceptor) routeInWorkflow(wctx workflow.Context, ctx context.Context, s start) (outcome, error) {
	s.untraced = workflow.IsReplaying(wctx)
	return i.route(ctx, s)
}

// refusedChild is the future of a child workflow the router refused: it is
// ready at once with the refusal, and nothing was sent to the server.
func refusedChild(ctx workflow.Context, err error) workflow.ChildWorkflowFuture {
	f, set := workflow.NewFuture(ctx)
	set.SetError(err)
	return failedChild{Future: f}
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
