package interceptor

import (
	"context"

	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"

	"github.com/tqrouter/tqrouter/registry"
)

// clientOutbound routes the client's start paths.
type clientOutbound struct {
	sdkinterceptor.ClientOutboundInterceptorBase
	root *Router
}

// routeOptions routes a start described by StartWorkflowOptions and returns
// the options to start with (opts itself when nothing changes, else a copy)
// and the outcome.
func (r *Router) routeOptions(ctx context.Context, path, workflowType string, opts *client.StartWorkflowOptions) (*client.StartWorkflowOptions, outcome, error) {
	if opts == nil {
		return nil, outcome{}, nil // the SDK reports missing options itself
	}
	out, err := r.route(ctx, start{path: path, workflowType: workflowType, taskQueue: opts.TaskQueue, memo: opts.Memo, priority: opts.Priority,
		mayAttach: mayAttach(path, opts.WorkflowIDConflictPolicy)})
	if err != nil || !out.rerouted() {
		return opts, out, err
	}
	routed := *opts
	out.apply(&routed.TaskQueue, &routed.Priority, &routed.Memo)
	return &routed, out, nil
}

// withTenantHeader writes the tenant of a rerouted start into the header
// the SDK sends with it.
func (r *Router) withTenantHeader(ctx context.Context, out outcome) error {
	if !out.rerouted() {
		return nil
	}
	header := sdkinterceptor.Header(ctx)
	injectTrace(out.span, header)
	if out.counted && header != nil {
		header[countedHeader] = r.countMark
	}
	return r.setTenantHeader(header, out.tenant)
}

// routeStart routes a client start's options and writes its tenant header;
// it returns opts itself when the start stays where it is.
func (r *Router) routeStart(ctx context.Context, method, workflowType string, opts *client.StartWorkflowOptions) (*client.StartWorkflowOptions, error) {
	routed, out, err := r.routeOptions(ctx, method, workflowType, opts)
	if err == nil {
		err = r.withTenantHeader(ctx, out)
	}
	return routed, err
}

func (o *clientOutbound) ExecuteWorkflow(ctx context.Context, in *sdkinterceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	opts, err := o.root.routeStart(ctx, "ExecuteWorkflow", in.WorkflowType, in.Options)
	if err != nil {
		return nil, err
	}
	if opts != in.Options { // the SDK's input is the caller's: copy, never write it
		routed := *in
		routed.Options, in = opts, &routed
	}
	return o.Next.ExecuteWorkflow(ctx, in)
}

func (o *clientOutbound) SignalWithStartWorkflow(ctx context.Context, in *sdkinterceptor.ClientSignalWithStartWorkflowInput) (client.WorkflowRun, error) {
	opts, err := o.root.routeStart(ctx, "SignalWithStartWorkflow", in.WorkflowType, in.Options)
	if err != nil {
		return nil, err
	}
	if opts != in.Options {
		routed := *in
		routed.Options, in = opts, &routed
	}
	return o.Next.SignalWithStartWorkflow(ctx, in)
}

func (o *clientOutbound) CreateSchedule(ctx context.Context, in *sdkinterceptor.ScheduleClientCreateInput) (client.ScheduleHandle, error) {
	if in.Options == nil {
		return o.Next.CreateSchedule(ctx, in)
	}
	action, ok := in.Options.Action.(*client.ScheduleWorkflowAction)
	if !ok || action == nil {
		return o.Next.CreateSchedule(ctx, in) // the SDK refuses other actions
	}
	routedAction, out, err := o.root.routeScheduleAction(ctx, action)
	if err == nil {
		err = o.root.withTenantHeader(ctx, out) // the SDK gives it to the action's starts
	}
	if err != nil {
		return nil, err
	}
	if routedAction != action {
		opts := *in.Options
		opts.Action = routedAction
		routed := *in
		routed.Options = &opts
		in = &routed
	}
	return o.Next.CreateSchedule(ctx, in)
}

// RouteScheduleAction routes a schedule's workflow action in place, with
// the tenant of ctx. CreateSchedule is routed by the router itself, but
// ScheduleHandle.Update is not visible to client interceptors: call this on
// the action an update sets. The update cannot carry the router's header,
// so the action's workflows find their tenant in their fairness key, or,
// for an ID longer than a fairness key, in the memo (see docs/routing.md on
// codecs).
func (r *Router) RouteScheduleAction(ctx context.Context, action *client.ScheduleWorkflowAction) error {
	if action == nil {
		return nil
	}
	routed, _, err := r.routeScheduleAction(ctx, action)
	if err == nil {
		*action = *routed
	}
	return err
}

func (r *Router) routeScheduleAction(ctx context.Context, action *client.ScheduleWorkflowAction) (*client.ScheduleWorkflowAction, outcome, error) {
	workflowType, err := registry.TypeName(action.Workflow)
	if err != nil {
		return action, outcome{}, nil // the SDK reports a bad workflow itself
	}
	out, err := r.route(ctx, start{path: "CreateSchedule", workflowType: workflowType, taskQueue: action.TaskQueue, memo: action.Memo, priority: action.Priority})
	if err != nil || !out.rerouted() {
		return action, out, err
	}
	routed := *action
	out.apply(&routed.TaskQueue, &routed.Priority, &routed.Memo)
	return &routed, out, nil
}

// ExecuteActivity routes a standalone activity started on a legacy queue
// by its kind in the registry (see registry.Registry.RegisterActivity), like
// a workflow start, and sends its tenant in a header so that the activity's
// context carries it (see [TenantFromContext]).
func (o *clientOutbound) ExecuteActivity(ctx context.Context, in *sdkinterceptor.ClientExecuteActivityInput) (client.ActivityHandle, error) {
	if in.Options == nil {
		return o.Next.ExecuteActivity(ctx, in) // the SDK reports missing options itself
	}
	out, err := o.root.route(ctx, start{path: "ExecuteActivity", workflowType: in.ActivityType, taskQueue: in.Options.TaskQueue, priority: in.Options.Priority, subject: activitySubject})
	if err == nil {
		err = o.root.withTenantHeader(ctx, out)
	}
	if err != nil {
		return nil, err
	}
	if out.rerouted() {
		opts := *in.Options
		opts.TaskQueue, opts.Priority = out.taskQueue, out.priority
		routed := *in
		routed.Options = &opts
		in = &routed
	}
	return o.Next.ExecuteActivity(ctx, in)
}

func (o *clientOutbound) UpdateWithStartWorkflow(ctx context.Context, in *sdkinterceptor.ClientUpdateWithStartWorkflowInput) (client.WorkflowUpdateHandle, error) {
	out, err := o.root.checkOperation(ctx, in.StartWorkflowOperation)
	if err == nil {
		// The tenant, the decision's trace and the detector's mark, as on
		// any routed start (the SDK sends this header with the start).
		err = o.root.withTenantHeader(ctx, out)
	}
	if err != nil {
		return nil, err
	}
	return o.Next.UpdateWithStartWorkflow(ctx, in)
}
