package interceptor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// Interceptor routes workflow starts, and standalone activity starts, to
// shard task queues. Create it with [New] and add it to
// client.Options.Interceptors. It is also a worker interceptor
// (worker.Options.Interceptors): there it routes child workflows and
// continue-as-new started on a legacy queue, for the tenant of the
// workflow, keeps activities off the legacy queue, and passes the tenant on
// to activities. It is safe for concurrent use.
type Interceptor struct {
	sdkinterceptor.InterceptorBase // client and worker

	reg    *registry.Registry
	table  *routing.Table
	opts   options
	tracer trace.Tracer
	ops    opSet // update-with-start operations made by this router

	// Per-start tracing costs, paid once: the span options, and the span
	// names of registered types (a bounded set).
	spanOpts          []trace.SpanStartOption
	spanNames         sync.Map // workflow type → span name
	activitySpanNames sync.Map // activity type → span name

	// Pinned tenants' queues, made once: a pinned tenant is a hot one, so
	// its starts must not build a name each.
	pinned map[pinKey]string // (label, kind) → queue
	labels map[string]bool   // the pin labels
}

type pinKey struct {
	label string
	kind  routing.QueueKind
}

var _ sdkinterceptor.Interceptor = (*Interceptor)(nil)

// New returns an Interceptor that routes the workflow types of reg according
// to cfg. An invalid cfg or option is an error wrapping
// [routing.ErrInvalidConfig].
func New(reg *registry.Registry, cfg routing.Config, opts ...Option) (*Interceptor, error) {
	if reg == nil {
		return nil, fmt.Errorf("%w: nil registry", routing.ErrInvalidConfig)
	}
	table, err := routing.NewTable(cfg)
	if err != nil {
		return nil, err
	}
	o := options{
		legacyQueues:   []string{DefaultLegacyQueue},
		memoKey:        DefaultMemoKey,
		tracerProvider: otel.GetTracerProvider(),
	}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if len(o.legacyQueues) == 0 {
		return nil, fmt.Errorf("%w: no legacy queues", routing.ErrInvalidConfig)
	}
	for tenant, label := range o.pins {
		if err := routing.ValidateTenant(tenant); err != nil {
			return nil, fmt.Errorf("%w: pinned tenant: %v", routing.ErrInvalidConfig, err)
		}
		if err := routing.ValidateKind(routing.QueueKind(label)); err != nil {
			return nil, fmt.Errorf("%w: pin label of a tenant: %v", routing.ErrInvalidConfig, err)
		}
	}
	for _, q := range o.legacyQueues {
		if q == "" || table.IsRouted(q) {
			return nil, fmt.Errorf("%w: legacy queue %q is empty or a shard queue", routing.ErrInvalidConfig, q)
		}
	}
	i := &Interceptor{
		reg:      reg,
		table:    table,
		opts:     o,
		tracer:   o.tracerProvider.Tracer(ScopeName, trace.WithInstrumentationVersion(Version)),
		ops:      newOpSet(),
		spanOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)},
		pinned:   map[pinKey]string{},
		labels:   map[string]bool{},
	}
	kinds := append(reg.Kinds(), routing.Tenant)
	for _, label := range o.pins {
		i.labels[label] = true
		for _, kind := range kinds {
			i.pinned[pinKey{label, kind}] = pinnedQueue(cfg.Prefix, kind, label)
		}
	}
	return i, nil
}

// Table returns the routing table of i, for example to list the queues
// workers must poll.
func (i *Interceptor) Table() *routing.Table { return i.table }

// InterceptClient implements the SDK's ClientInterceptor.
func (i *Interceptor) InterceptClient(next sdkinterceptor.ClientOutboundInterceptor) sdkinterceptor.ClientOutboundInterceptor {
	out := &clientOutbound{root: i}
	out.Next = next
	return out
}

// start is what the router needs to know of one workflow start, or of one
// standalone activity start.
type start struct {
	path         string
	workflowType string // the activity type when activity is set
	taskQueue    string
	memo         map[string]any
	priority     temporal.Priority
	// inWorkflow marks a start made by workflow code: the tenant comes
	// from the context (the parent's) and the memo only, and the weight is
	// the caller's, so that no user function runs inside a workflow.
	inWorkflow bool
	// untraced skips the span: a replayed workflow decides again but must
	// not trace twice.
	untraced bool
	// activity marks a standalone activity: its type is looked up among
	// the registry's activity types, and it has no memo.
	activity bool
}

// outcome is the router's answer for one start.
type outcome struct {
	decision Decision
	// Set when decision is Routed: the queue, priority and memo to start
	// with. memo is nil when the caller's memo is kept as it is.
	taskQueue string
	priority  temporal.Priority
	memo      map[string]any
	tenant    string
}

// route decides where s goes, traces the decision, and returns the outcome,
// or a *RouteError when s must be refused. In shadow mode it never refuses
// and never changes anything.
func (i *Interceptor) route(ctx context.Context, s start) (outcome, error) {
	lookup := i.reg.Lookup
	if s.activity {
		lookup = i.reg.LookupActivity
	}
	kind, registered := lookup(s.workflowType)
	span := trace.SpanFromContext(context.Background()) // a non-recording span
	if !s.untraced {
		_, span = i.tracer.Start(ctx, i.spanName(s.workflowType, registered, s.activity), i.spanOpts...)
		defer span.End()
	}

	out, r, tenant, reason, err := i.decide(ctx, s, kind, registered)
	if err != nil {
		err = &RouteError{Path: s.path, WorkflowType: s.workflowType, TaskQueue: s.taskQueue, Err: err}
		out = outcome{decision: Refused}
	}
	if i.opts.shadow {
		// Record what would have happened, refusals included, and let the
		// start go as it was.
		if span.IsRecording() {
			i.annotate(span, s, Shadow, r, tenant, reason, err)
		}
		return outcome{decision: Shadow}, nil
	}
	if span.IsRecording() {
		i.annotate(span, s, out.decision, r, tenant, reason, err)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	return out, err
}

// spanName is SpanName (or ActivitySpanName), kept per registered type so
// that routing a start does not build a string.
func (i *Interceptor) spanName(typeName string, registered, activity bool) string {
	name, names := SpanName, &i.spanNames
	if activity {
		name, names = ActivitySpanName, &i.activitySpanNames
	}
	if !registered {
		return name(typeName, false)
	}
	if n, ok := names.Load(typeName); ok {
		return n.(string)
	}
	n := name(typeName, true)
	names.Store(typeName, n)
	return n
}

// decide is the routing policy; it has no side effects.
func (i *Interceptor) decide(ctx context.Context, s start, kind routing.QueueKind, registered bool) (out outcome, r routing.Route, tenant, reason string, err error) {
	legacy := slices.Contains(i.opts.legacyQueues, s.taskQueue)
	switch {
	case !legacy && i.table.IsRouted(s.taskQueue):
		return outcome{decision: Passthrough}, r, "", reasonAlreadyRouted, nil
	case !legacy:
		return outcome{decision: Passthrough}, r, "", reasonExplicitQueue, nil
	case !registered && i.opts.refuseUnregistered && s.activity:
		return out, r, "", "", ErrUnregisteredActivity
	case !registered && i.opts.refuseUnregistered:
		return out, r, "", "", ErrUnregisteredWorkflow
	case !registered:
		return outcome{decision: Passthrough}, r, "", reasonUnregistered, nil
	}
	tenant, err = i.tenantOf(ctx, s.workflowType, s.memo, s.inWorkflow)
	if err != nil {
		return out, r, "", "", err
	}
	if kind == routing.Jobs {
		r, err = i.table.JobRoute(kind)
		if err != nil {
			return out, r, tenant, "", err
		}
		return outcome{decision: Routed, taskQueue: r.TaskQueue, priority: s.priority, tenant: tenant}, r, tenant, "", nil
	}
	if tenant == "" {
		// A workflow with no tenant was started before the rollout: its
		// children and continue-as-new stay on the legacy queue, which keeps
		// workers until it drains. Refusing would fail a running workflow.
		if i.opts.legacyFallback || s.inWorkflow {
			return outcome{decision: Passthrough}, r, "", reasonNoTenant, nil
		}
		return out, r, "", "", ErrMissingTenant
	}
	weight := s.priority.FairnessWeight
	if i.opts.weightFunc != nil && !s.inWorkflow {
		weight = i.opts.weightFunc(ctx, tenant)
	}
	r, err = i.table.TenantRoute(kind, tenant, weight)
	if err != nil {
		return out, r, tenant, "", err
	}
	if label, ok := i.opts.pins[tenant]; ok {
		r.TaskQueue, r.Shard, reason = i.pinnedQueue(kind, label), -1, reasonPinned
	}
	out = outcome{
		decision:  Routed,
		taskQueue: r.TaskQueue,
		priority: temporal.Priority{
			PriorityKey:    s.priority.PriorityKey, // the caller's own key is kept
			FairnessKey:    r.FairnessKey,
			FairnessWeight: r.FairnessWeight,
		},
		tenant: tenant,
	}
	if !s.activity { // an activity has no memo; its tenant travels in a header
		out.memo = i.memoWithTenant(s.memo, tenant, r.FairnessKey)
	}
	return out, r, tenant, reason, nil
}

// pinnedSegment separates a pinned queue's kind from its label.
const pinnedSegment = ".pinned-"

// pinnedQueue is the dedicated queue of a pinned tenant,
// "{prefix}.{kind}.pinned-{label}".
func pinnedQueue(prefix string, kind routing.QueueKind, label string) string {
	return prefix + "." + string(kind) + pinnedSegment + label
}

// pinnedQueue returns the queue of a pin for kind: made in New, or now for a
// kind registered since.
func (i *Interceptor) pinnedQueue(kind routing.QueueKind, label string) string {
	if q, ok := i.pinned[pinKey{label, kind}]; ok {
		return q
	}
	return pinnedQueue(i.table.Config().Prefix, kind, label)
}

// routesTo reports whether queue is one this router sends starts to: a
// shard queue of its prefix or a pinned tenant's queue.
func (i *Interceptor) routesTo(queue string) bool {
	if i.table.IsRouted(queue) {
		return true
	}
	rest, ok := strings.CutPrefix(queue, i.table.Config().Prefix)
	if !ok || !strings.HasPrefix(rest, ".") {
		return false
	}
	_, label, ok := strings.Cut(rest, pinnedSegment)
	return ok && i.labels[label]
}

// PinnedQueues returns the dedicated queues of the pinned tenants (see
// [WithPinnedTenant]) for kind, sorted: workers of that kind poll them too.
func (i *Interceptor) PinnedQueues(kind routing.QueueKind) []string {
	var queues []string
	for _, label := range i.opts.pins {
		q := i.pinnedQueue(kind, label)
		if !slices.Contains(queues, q) {
			queues = append(queues, q)
		}
	}
	slices.Sort(queues)
	return queues
}

// memoWithTenant returns a copy of memo with the tenant under the memo key,
// or nil when none is needed. The tenant travels with a workflow (to its
// children, activities and continue-as-new) as its fairness key, which the
// server records and children inherit; only a tenant whose fairness key is
// not the ID itself (an ID too long to be one) also needs the memo.
func (i *Interceptor) memoWithTenant(memo map[string]any, tenant, fairnessKey string) map[string]any {
	if fairnessKey == tenant {
		return nil
	}
	if _, ok := memo[i.opts.memoKey]; ok {
		return nil // it agreed with the tenant, or the start was refused
	}
	out := make(map[string]any, len(memo)+1)
	maps.Copy(out, memo)
	out[i.opts.memoKey] = tenant
	return out
}

func (i *Interceptor) annotate(span trace.Span, s start, d Decision, r routing.Route, tenant, reason string, err error) {
	span.SetAttributes(
		AttrWorkflowType.String(s.workflowType),
		AttrStartPath.String(s.path),
		AttrOriginalQueue.String(s.taskQueue),
		AttrDecision.String(string(d)),
	)
	if r.TaskQueue != "" {
		span.SetAttributes(
			AttrQueueKind.String(string(r.Kind)),
			AttrChosenQueue.String(r.TaskQueue),
		)
		if r.Shard >= 0 {
			span.SetAttributes(AttrShard.Int(r.Shard))
		}
		if r.FairnessWeight != 0 {
			span.SetAttributes(AttrWeight.Float64(float64(r.FairnessWeight)))
		}
	}
	if reason != "" {
		span.SetAttributes(AttrReason.String(reason))
	}
	if tenant != "" {
		if i.opts.tenantInTraces {
			span.SetAttributes(AttrTenantID.String(tenant))
		} else {
			span.SetAttributes(AttrTenantHash.String(TenantHash(tenant)))
		}
	}
	if err != nil {
		span.SetAttributes(AttrErrorType.String(errorType(err)))
	}
}

// errorType is the low-cardinality error.type of a refusal.
func errorType(err error) string {
	for _, e := range []struct {
		err  error
		name string
	}{
		{ErrMissingTenant, "missing_tenant"},
		{ErrTenantMismatch, "tenant_mismatch"},
		{ErrInvalidTenant, "invalid_tenant"},
		{ErrInvalidWeight, "invalid_weight"},
		{ErrUnregisteredWorkflow, "unregistered_workflow"},
		{ErrUnregisteredActivity, "unregistered_activity"},
		{ErrUnroutedUpdateWithStart, "unrouted_update_with_start"},
		{routing.ErrInvalidConfig, "invalid_config"},
	} {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	return "other"
}

// apply writes a routed outcome's queue, priority and memo (if it has one)
// into a start's options.
func (o outcome) apply(queue *string, priority *temporal.Priority, memo *map[string]any) {
	*queue, *priority = o.taskQueue, o.priority
	if o.memo != nil {
		*memo = o.memo
	}
}

// routeOptions routes a start described by StartWorkflowOptions and returns
// the options to start with: opts itself when nothing changes, else a copy.
func (i *Interceptor) routeOptions(ctx context.Context, path, workflowType string, opts *client.StartWorkflowOptions) (*client.StartWorkflowOptions, error) {
	if opts == nil {
		return nil, nil // the SDK reports missing options itself
	}
	out, err := i.route(ctx, start{path: path, workflowType: workflowType, taskQueue: opts.TaskQueue, memo: opts.Memo, priority: opts.Priority})
	if err != nil || out.decision != Routed {
		return opts, err
	}
	routed := *opts
	out.apply(&routed.TaskQueue, &routed.Priority, &routed.Memo)
	return &routed, nil
}

// RouteScheduleAction routes a schedule's workflow action in place, with
// the tenant of ctx. CreateSchedule is routed by the interceptor itself, but
// ScheduleHandle.Update is not visible to client interceptors: call this on
// the action an update sets.
func (i *Interceptor) RouteScheduleAction(ctx context.Context, action *client.ScheduleWorkflowAction) error {
	if action == nil {
		return nil
	}
	routed, err := i.routeScheduleAction(ctx, action)
	if err == nil {
		*action = *routed
	}
	return err
}

func (i *Interceptor) routeScheduleAction(ctx context.Context, action *client.ScheduleWorkflowAction) (*client.ScheduleWorkflowAction, error) {
	workflowType, err := registry.TypeName(action.Workflow)
	if err != nil {
		return action, nil // the SDK reports a bad workflow itself
	}
	out, err := i.route(ctx, start{path: "CreateSchedule", workflowType: workflowType, taskQueue: action.TaskQueue, memo: action.Memo, priority: action.Priority})
	if err != nil || out.decision != Routed {
		return action, err
	}
	routed := *action
	out.apply(&routed.TaskQueue, &routed.Priority, &routed.Memo)
	return &routed, nil
}

type clientOutbound struct {
	sdkinterceptor.ClientOutboundInterceptorBase
	root *Interceptor
}

func (o *clientOutbound) ExecuteWorkflow(ctx context.Context, in *sdkinterceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	opts, err := o.root.routeOptions(ctx, "ExecuteWorkflow", in.WorkflowType, in.Options)
	if err != nil {
		return nil, err
	}
	if opts != in.Options {
		routed := *in
		routed.Options = opts
		in = &routed
	}
	return o.Next.ExecuteWorkflow(ctx, in)
}

func (o *clientOutbound) SignalWithStartWorkflow(ctx context.Context, in *sdkinterceptor.ClientSignalWithStartWorkflowInput) (client.WorkflowRun, error) {
	opts, err := o.root.routeOptions(ctx, "SignalWithStartWorkflow", in.WorkflowType, in.Options)
	if err != nil {
		return nil, err
	}
	if opts != in.Options {
		routed := *in
		routed.Options = opts
		in = &routed
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
	routedAction, err := o.root.routeScheduleAction(ctx, action)
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

// ExecuteActivity routes a standalone activity started on a legacy queue
// by its kind in the registry (see registry.Registry.RegisterActivity), like
// a workflow start, and sends its tenant in a header so that the activity's
// context carries it (see [TenantFromContext]).
func (o *clientOutbound) ExecuteActivity(ctx context.Context, in *sdkinterceptor.ClientExecuteActivityInput) (client.ActivityHandle, error) {
	if in.Options == nil {
		return o.Next.ExecuteActivity(ctx, in) // the SDK reports missing options itself
	}
	out, err := o.root.route(ctx, start{path: "ExecuteActivity", workflowType: in.ActivityType, taskQueue: in.Options.TaskQueue, priority: in.Options.Priority, activity: true})
	if err != nil {
		return nil, err
	}
	if out.decision == Routed {
		opts := *in.Options
		opts.TaskQueue, opts.Priority = out.taskQueue, out.priority
		routed := *in
		routed.Options = &opts
		in = &routed
		setTenantHeader(sdkinterceptor.Header(ctx), out.tenant)
	}
	return o.Next.ExecuteActivity(ctx, in)
}

func (o *clientOutbound) UpdateWithStartWorkflow(ctx context.Context, in *sdkinterceptor.ClientUpdateWithStartWorkflowInput) (client.WorkflowUpdateHandle, error) {
	if err := o.root.checkOperation(ctx, in.StartWorkflowOperation); err != nil {
		return nil, err
	}
	return o.Next.UpdateWithStartWorkflow(ctx, in)
}
