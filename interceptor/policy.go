package interceptor

import (
	"context"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/temporal"

	"github.com/tqrouter/tqrouter/routing"
)

// subject is what a start starts.
type subject uint8

const (
	// workflowSubject: a workflow (a client's start, a child,
	// continue-as-new, update-with-start, a schedule's action).
	workflowSubject subject = iota
	// activitySubject: an activity, standalone (a client's
	// ExecuteActivity) or scheduled by workflow code.
	activitySubject
)

// start is what the router needs to know of one start: a workflow's, or an
// activity's.
type start struct {
	path         string
	workflowType string // the activity type of an activity
	taskQueue    string
	memo         map[string]any
	priority     temporal.Priority
	subject      subject
	// kind and registered are the type's kind in the registry, looked up
	// once by route.
	kind       routing.QueueKind
	registered bool
	// inWorkflow marks a start made by workflow code: the tenant comes
	// from the workflow (as a context value) and the memo only, the weight
	// is the caller's, and no user function runs inside a workflow. Its
	// children and continue-as-new never read or change the hot-tenant
	// counts, so that their decision depends on history only. An activity
	// made by workflow code runs on the workflow's own queue (ownQueue),
	// or on its tenant's overflow queue while the tenant is hot (see
	// decideWorkflowActivity).
	inWorkflow bool
	ownQueue   string
	// replaying marks a start made by workflow code on replay: it is
	// decided again, but neither recorded (span, metrics) nor counted a
	// second time.
	replaying bool
	// quiet marks a start that is recorded only when the router moves it:
	// an activity that workflow code schedules on the workflow's own
	// queue, which stays there unless its tenant is hot. One that stays
	// is no decision of the router's, as it never was.
	quiet bool
	// mayAttach marks a start that may reach a running workflow instead
	// of creating one (see [mayAttach]): it is not counted as a start of
	// its tenant.
	mayAttach bool
	// countedBefore marks an activity of a workflow this router counted
	// already: at the workflow's start through its client, or at an
	// earlier activity. It reads its tenant's state but is not counted:
	// a workflow counts once in each process (see decideWorkflowActivity).
	countedBefore bool
	// tenantErr, set by the worker side, is why the running workflow's
	// tenant could not be read (see Router.workflowTenant).
	tenantErr error
	// refusal, when set, refuses the start before anything else is
	// decided: an update-with-start operation the router did not make.
	refusal error
}

// outcome is the router's answer for one start.
type outcome struct {
	decision Decision
	// Set when the start is rerouted (Routed or Overflow): the queue,
	// priority and memo to start with. memo is nil when the caller's memo
	// is kept as it is.
	taskQueue string
	priority  temporal.Priority
	memo      map[string]any
	tenant    string
	// span is the routing decision's span, when it is recorded: the
	// router's worker side joins its trace.
	span trace.SpanContext
	// counted: the hot-tenant detector counted the start, and the
	// workflow's header says so to this process's workers (see
	// countedHeader).
	counted bool
}

// rerouted reports whether the start's options change: it goes to a routed
// queue with its tenant's fairness (Routed), or to an overflow queue
// (Overflow).
func (o outcome) rerouted() bool { return o.decision == Routed || o.decision == Overflow }

// apply writes a rerouted outcome's queue, priority and memo (if it has
// one) into a start's options.
func (o outcome) apply(queue *string, priority *temporal.Priority, memo *map[string]any) {
	*queue, *priority = o.taskQueue, o.priority
	if o.memo != nil {
		*memo = o.memo
	}
}

// verdict is everything decided about one start, for the outcome, the
// span and the metrics.
type verdict struct {
	out    outcome
	route  routing.Route
	tenant string
	reason string
	change change   // the tenant became hot, or cooled down, at this start
	swept  []cooled // other tenants found cooled down at this start
	// confirmed: the tenant became hot on the server's word (see fleet.go).
	confirmed bool
	// counted: the detector counted the start (see hotTenant).
	counted bool
	// yield: the start is a suspect's (see hotTenant); it goes to its
	// shard one priority key below the caller's (see yieldKey).
	yield bool
}

// evidence is the AttrHotEvidence of a tenant that became hot.
func (v verdict) evidence() string {
	if v.confirmed {
		return "server"
	}
	return "local"
}

// route is the one decision pipeline: every start the router sees, on
// clients and in workflows, is decided here (see decide), recorded here
// (span, metrics, log), and answered with the outcome, or with a
// *RouteError when it must be refused. In shadow mode it never refuses and
// never changes anything.
func (r *Router) route(ctx context.Context, s start) (outcome, error) {
	s.kind, s.registered = r.lookup(s)
	span := trace.SpanFromContext(context.Background()) // a non-recording span
	traced := !s.replaying && !s.quiet
	var began time.Time
	switch {
	case traced:
		ctx, span = r.tracer.Start(ctx, r.spanName(s), r.spanOpts...)
		defer span.End()
	case s.quiet && !s.replaying:
		began = time.Now() // its span begins here, if it is moved
	}

	v, err := r.decide(ctx, s)
	if err != nil {
		err = &RouteError{Path: s.path, WorkflowType: s.workflowType, TaskQueue: s.taskQueue, Err: err}
		v.out = outcome{decision: Refused}
	}
	if !began.IsZero() && (v.out.decision == Overflow || err != nil) {
		ctx, span = r.tracer.Start(ctx, r.spanName(s), append(slices.Clip(r.spanOpts), trace.WithTimestamp(began))...)
		defer span.End()
		traced = true
	}
	recorded := v.out.decision
	if r.opts.shadow {
		recorded = Shadow
	}
	switch {
	case traced:
		r.record(ctx, span, s, recorded, v, err)
	case !s.replaying:
		r.logChanges(v) // a quiet start that stays: only the tenants that cooled down
	}
	if r.opts.shadow {
		// What would have happened is recorded, refusals included; the
		// start goes as it was.
		return outcome{decision: Shadow, counted: v.out.counted}, nil
	}
	if span.IsRecording() {
		v.out.span = span.SpanContext()
	}
	return v.out, err
}

// lookup returns the kind of a start's type in the registry. An activity
// made by workflow code is not looked up: it runs where its workflow runs.
func (r *Router) lookup(s start) (kind routing.QueueKind, registered bool) {
	switch {
	case s.refusal != nil:
		return "", false
	case s.subject == activitySubject && s.inWorkflow:
		return "", true
	case s.subject == activitySubject:
		return r.reg.LookupActivity(s.workflowType)
	}
	return r.reg.Lookup(s.workflowType)
}

// record traces, counts and logs one decision.
func (r *Router) record(ctx context.Context, span trace.Span, s start, d Decision, v verdict, err error) {
	r.metrics.decision(ctx, s.path, d, v.route.Kind, v.reason, err)
	if v.change == becameHot {
		r.metrics.isolation(ctx, v.route.Kind, v.evidence())
	}
	r.logChanges(v)
	if !span.IsRecording() {
		return
	}
	r.annotate(span, s, d, v, err)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
}

// decide is the routing policy; apart from the hot-tenant counts (see
// hotTenant) it has no side effects. The start's tenant is resolved first,
// whatever queue it names, so that no start goes out with sources that
// disagree; then the queue it names decides the rest.
func (r *Router) decide(ctx context.Context, s start) (v verdict, err error) {
	if s.refusal != nil {
		return v, s.refusal
	}
	if s.subject == activitySubject && s.inWorkflow {
		return r.decideWorkflowActivity(ctx, s), nil
	}
	if v.tenant, err = r.startTenant(ctx, s); err != nil {
		return v, err
	}
	legacy := r.isLegacy(s.taskQueue)
	switch dest, routed := routing.ParseTaskQueue(r.prefix, s.taskQueue); {
	case routed:
		return r.decideRoutedQueue(ctx, s, dest, v)
	case !legacy:
		v.out.decision, v.reason = Passthrough, reasonExplicitQueue
		return v, nil
	case !s.registered && r.opts.refuseUnregistered && s.subject == activitySubject:
		return v, ErrUnregisteredActivity
	case !s.registered && r.opts.refuseUnregistered:
		return v, ErrUnregisteredWorkflow
	case !s.registered:
		v.out.decision, v.reason = Passthrough, reasonUnregistered
		return v, nil
	}
	if !r.table.TenantScoped(s.kind) {
		v.route, err = r.table.JobRoute(s.kind)
		if err != nil {
			return v, err
		}
		v.out = outcome{decision: Routed, taskQueue: v.route.TaskQueue, priority: s.priority, tenant: v.tenant}
		return v, nil
	}
	if v.tenant == "" {
		switch {
		case s.tenantErr != nil:
			// The workflow runs on a routed queue but has no tenant:
			// leaving its child on the legacy queue would bypass the
			// router silently.
			return v, s.tenantErr
		case r.opts.legacyFallback || s.inWorkflow:
			// A workflow with no tenant was started before the rollout:
			// its children and continue-as-new stay on the legacy queue,
			// which keeps workers until it drains. Refusing would fail a
			// running workflow.
			v.out.decision, v.reason = Passthrough, reasonNoTenant
			return v, nil
		}
		return v, ErrMissingTenant
	}
	if v.route, err = r.table.TenantRoute(s.kind, v.tenant, r.weight(ctx, s, v.tenant)); err != nil {
		return v, err
	}
	decision := Routed
	switch {
	case v.route.Role == routing.PinnedQueue:
		v.reason = reasonPinned
	case r.hotTenant(s, &v):
		v.route = v.route.Hot()
		decision, v.reason = Overflow, reasonHotTenant
	case v.yield:
		v.reason = reasonSuspectTenant
	}
	v.out = r.tenantOutcome(s, decision, v)
	return v, nil
}

// hotTenant counts a start routed to its tenant's shard, and says whether
// the tenant is hot, so that the start goes to its overflow queue instead.
// It is the one place the policy consults the hot-tenant detector. The
// starts it counts are a client's, and the activities workflow code
// schedules on its own shard queue when not replaying (see
// decideWorkflowActivity); children and continue-as-new made by workflow
// code never consult it, so that replays decide the same.
func (r *Router) hotTenant(s start, v *verdict) bool {
	// Only a tenant that has an overflow queue to go to is counted:
	// nothing reports an isolation that cannot happen.
	if r.hot == nil || v.route.Overflow == "" || s.replaying || s.inWorkflow && s.subject != activitySubject {
		return false
	}
	counted := !s.mayAttach && !s.countedBefore
	j := r.hot.observe(sighting{kind: v.route.Kind, shard: v.route.Shard, queue: v.route.TaskQueue, tenant: v.tenant, counted: counted})
	v.change, v.swept, v.confirmed, v.counted = j.change, j.swept, j.confirmed, counted
	// A suspect's start that stays on the shard yields to its shard-mates
	// (see HotTenants.Suspect); an activity keeps its workflow's priority.
	v.yield = j.suspect && !j.hot && s.subject == workflowSubject && !r.hot.cfg.KeepPriority
	return j.hot
}

// decideRoutedQueue decides a start that names a routed queue itself: it
// stays on that queue, but carries what a routed start carries. On a queue
// of a tenant-scoped kind that is its tenant's fairness key, weight,
// header and memo, never a key of the caller's: a fairness key names a
// tenant, so a key without a tenant from a trusted source is refused, as
// is a tenant-scoped type without a tenant (except in workflow code, where
// refusing would fail a running workflow). A queue of another kind
// carries no tenant fairness, and the start passes through.
func (r *Router) decideRoutedQueue(ctx context.Context, s start, dest routing.Destination, v verdict) (verdict, error) {
	v.reason = reasonAlreadyRouted
	if !r.table.TenantScoped(dest.Kind) {
		v.out.decision = Passthrough
		return v, nil
	}
	if v.tenant == "" {
		if s.priority.FairnessKey != "" || (s.registered && r.table.TenantScoped(s.kind) && !s.inWorkflow) {
			return v, ErrMissingTenant
		}
		v.out.decision = Passthrough
		return v, nil
	}
	route, err := r.table.TenantRoute(dest.Kind, v.tenant, r.weight(ctx, s, v.tenant))
	if err != nil {
		return v, err
	}
	v.route = routing.Route{
		Kind: dest.Kind, Role: dest.Role, TaskQueue: s.taskQueue,
		FairnessKey: route.FairnessKey, FairnessWeight: route.FairnessWeight,
	}
	if dest.Role == routing.ShardQueue {
		v.route.Shard = dest.Index
	}
	v.out = r.tenantOutcome(s, Routed, v)
	return v, nil
}

// weight is the fairness weight of a start for tenant: the weight
// function's, or else the caller's own.
func (r *Router) weight(ctx context.Context, s start, tenant string) float32 {
	if r.opts.weightFunc != nil && !s.inWorkflow {
		return r.opts.weightFunc(ctx, tenant)
	}
	return s.priority.FairnessWeight
}

// tenantOutcome is the outcome of a start going to v.route for its tenant:
// the tenant's fairness key and weight, the caller's own priority key (one
// below it when the start yields), and the memo that carries an ID too
// long to be its own fairness key.
func (r *Router) tenantOutcome(s start, d Decision, v verdict) outcome {
	out := outcome{
		decision:  d,
		taskQueue: v.route.TaskQueue,
		priority: temporal.Priority{
			PriorityKey:    yieldKey(s.priority.PriorityKey, v.yield),
			FairnessKey:    v.route.FairnessKey,
			FairnessWeight: v.route.FairnessWeight,
		},
		tenant:  v.tenant,
		counted: v.counted,
	}
	if s.subject == workflowSubject { // an activity has no memo
		out.memo = r.memoWithTenant(s.memo, v.tenant, v.route.FairnessKey)
	}
	return out
}

// decideWorkflowActivity decides an activity that workflow code schedules
// on a legacy queue, or on the workflow's own queue. Workflow code that
// names the legacy queue in its activity options means "the queue we all
// run on"; once the workflow runs on a routed queue, that is its own
// queue, whose workers have its activities; the server gives a queued
// activity task the workflow's fairness key, whatever its queue
// (transfer_queue_active_task_executor.go:277, server v1.32). A workflow
// still on the legacy queue leaves its activities there.
//
// An activity bound for the workflow's own queue when that is a shard
// queue is one of its tenant's starts on that shard: the workers see every
// activity of the shard's workflows, however many client processes
// started them. It is counted by the same detector as a client's start
// (hotTenant), and while the tenant is hot it goes to the tenant's
// overflow queue of the kind, so that its shard-mates' activities are not
// queued behind it. A workflow counts once in each process, as a start
// does: at its first activity there (the detector's Enter and Suspect
// are counts of workflows, however many activities each runs), and not
// at all if this process's client counted its start (its header says so:
// see countedHeader), so that a process that both starts and runs
// workflows does not count each twice.
//
// On replay an activity is neither counted nor moved: the SDK (v1.51)
// matches a scheduled activity to its history event by activity ID and
// type only, not by queue (internal/internal_task_handlers.go:1708-1718),
// so that another choice on replay is no nondeterminism error, and the
// one recorded in history stands.
func (r *Router) decideWorkflowActivity(ctx context.Context, s start) verdict {
	v := verdict{reason: reasonWorkflowQueue}
	v.tenant, _ = TenantFromContext(ctx)
	dest, routed := routing.ParseTaskQueue(r.prefix, s.ownQueue)
	if !routed {
		v.out.decision, v.reason = Passthrough, reasonWorkflowOnLegacy
		return v
	}
	v.route = routing.Route{Kind: dest.Kind, Role: dest.Role, Shard: dest.Index, TaskQueue: s.ownQueue}
	v.out = outcome{decision: Routed, taskQueue: s.ownQueue}
	if r.hot == nil || dest.Role != routing.ShardQueue || v.tenant == "" {
		return v
	}
	// The table knows the tenant's overflow queue of the kind: none for a
	// pinned tenant, a kind that is not tenant-scoped, or NoOverflow.
	if home, err := r.table.TenantRoute(dest.Kind, v.tenant, 0); err == nil {
		v.route.Overflow = home.Overflow
	}
	if r.hotTenant(s, &v) {
		v.route = v.route.Hot()
		v.reason = reasonHotTenant
		v.out = outcome{decision: Overflow, taskQueue: v.route.TaskQueue, tenant: v.tenant}
	}
	v.out.counted = v.counted
	return v
}

// memoWithTenant returns a copy of memo with the tenant under the memo key,
// or nil when none is needed. The tenant travels with a workflow in the
// router's header and as its fairness key; an ID too long to be its own
// fairness key is also put in the memo, which operators see in the Web UI
// and which workflows started before the header existed carry.
func (r *Router) memoWithTenant(memo map[string]any, tenant, fairnessKey string) map[string]any {
	if fairnessKey == tenant {
		return nil
	}
	if _, ok := memo[r.opts.memoKey]; ok {
		return nil // it agreed with the tenant, or the start was refused
	}
	out := make(map[string]any, len(memo)+1)
	maps.Copy(out, memo)
	out[r.opts.memoKey] = tenant
	return out
}

// Temporal's priority keys: 1 is dispatched first; a start that sets none
// has the default (server v1.32, matching.priorityLevels and
// matching.defaultPriorityKey's defaults).
const (
	defaultPriorityKey = 3
	lowestPriorityKey  = 5
)

// yieldKey is the priority key of a start whose caller set key (0 for
// none): the caller's, or the next lower priority when the start yields.
// A start at the lowest priority stays there.
func yieldKey(key int, yield bool) int {
	if !yield {
		return key
	}
	if key == 0 {
		key = defaultPriorityKey
	}
	return max(key, min(key+1, lowestPriorityKey))
}
