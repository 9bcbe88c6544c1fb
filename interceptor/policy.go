package interceptor

import (
	"context"
	"maps"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/temporal"

	"github.com/tqrouter/tqrouter/routing"
)

// start is what the router needs to know of one workflow start, or of one
// standalone activity start.
type start struct {
	path         string
	workflowType string // the activity type when activity is set
	taskQueue    string
	memo         map[string]any
	priority     temporal.Priority
	// inWorkflow marks a start made by workflow code: the tenant comes
	// from the workflow (as a context value) and the memo only, the weight
	// is the caller's, and the hot-tenant counts are neither read nor
	// changed, so that the decision depends on history only and no user
	// function runs inside a workflow.
	inWorkflow bool
	// untraced skips the span and the metrics: a replayed workflow decides
	// again but must not record twice.
	untraced bool
	// activity marks a standalone activity: its type is looked up among
	// the registry's activity types, and it has no memo.
	activity bool
	// mayAttach marks a start that may reach a running workflow instead
	// of creating one (see [mayAttach]): it is not counted as a start of
	// its tenant.
	mayAttach bool
	// tenantErr, set by the worker side, is why the running workflow's
	// tenant could not be read; a tenant-scoped start without a tenant is
	// then refused with it instead of left on the legacy queue.
	tenantErr error
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
}

// rerouted reports whether the start goes to another queue than it named.
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
}

// evidence is the AttrHotEvidence of a tenant that became hot.
func (v verdict) evidence() string {
	if v.confirmed {
		return "server"
	}
	return "local"
}

// route decides where s goes, records the decision (span, metrics, log),
// and returns the outcome, or a *RouteError when s must be refused. In
// shadow mode it never refuses and never changes anything.
func (r *Router) route(ctx context.Context, s start) (outcome, error) {
	lookup := r.reg.Lookup
	if s.activity {
		lookup = r.reg.LookupActivity
	}
	kind, registered := lookup(s.workflowType)
	span := trace.SpanFromContext(context.Background()) // a non-recording span
	if !s.untraced {
		ctx, span = r.tracer.Start(ctx, r.spanName(s.workflowType, registered, s.activity), r.spanOpts...)
		defer span.End()
	}

	v, err := r.decide(ctx, s, kind, registered)
	if err != nil {
		err = &RouteError{Path: s.path, WorkflowType: s.workflowType, TaskQueue: s.taskQueue, Err: err}
		v.out = outcome{decision: Refused}
	}
	recorded := v.out.decision
	if r.opts.shadow {
		recorded = Shadow
	}
	if !s.untraced {
		r.record(ctx, span, s, recorded, v, err)
	}
	if r.opts.shadow {
		// What would have happened is recorded, refusals included; the
		// start goes as it was.
		return outcome{decision: Shadow}, nil
	}
	if span.IsRecording() {
		v.out.span = span.SpanContext()
	}
	return v.out, err
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

// decide is the routing policy; apart from the hot-tenant counts it has no
// side effects.
func (r *Router) decide(ctx context.Context, s start, kind routing.QueueKind, registered bool) (v verdict, err error) {
	legacy := r.isLegacy(s.taskQueue)
	switch {
	case !legacy && r.table.IsRouted(s.taskQueue):
		v.out.decision, v.reason = Passthrough, reasonAlreadyRouted
		return v, nil
	case !legacy:
		v.out.decision, v.reason = Passthrough, reasonExplicitQueue
		return v, nil
	case !registered && r.opts.refuseUnregistered && s.activity:
		return v, ErrUnregisteredActivity
	case !registered && r.opts.refuseUnregistered:
		return v, ErrUnregisteredWorkflow
	case !registered:
		v.out.decision, v.reason = Passthrough, reasonUnregistered
		return v, nil
	}
	v.tenant, err = r.tenantOf(ctx, s.workflowType, s.memo, s.inWorkflow)
	if err != nil {
		return v, err
	}
	if !kind.TenantScoped() {
		v.route, err = r.table.JobRoute(kind)
		if err != nil {
			return v, err
		}
		v.out = outcome{decision: Routed, taskQueue: v.route.TaskQueue, priority: s.priority, tenant: v.tenant}
		return v, nil
	}
	if v.tenant == "" {
		switch {
		case s.tenantErr != nil:
			// The workflow runs on a routed queue but its tenant cannot be
			// read: leaving its child on the legacy queue would bypass
			// the router silently.
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
	weight := s.priority.FairnessWeight
	if r.opts.weightFunc != nil && !s.inWorkflow {
		weight = r.opts.weightFunc(ctx, v.tenant)
	}
	v.route, err = r.table.TenantRoute(kind, v.tenant, weight)
	if err != nil {
		return v, err
	}
	decision := Routed
	switch {
	case v.route.Role == routing.PinnedQueue:
		v.reason = reasonPinned
	case r.hot != nil && !s.inWorkflow && v.route.Overflow != "":
		// Only a tenant that has an overflow queue to go to is counted:
		// nothing reports an isolation that cannot happen.
		j := r.hot.observe(sighting{kind: kind, shard: v.route.Shard, queue: v.route.TaskQueue, tenant: v.tenant, counted: !s.mayAttach})
		v.change, v.swept, v.confirmed = j.change, j.swept, j.confirmed
		if j.hot {
			v.route = v.route.Hot()
			decision, v.reason = Overflow, reasonHotTenant
		}
	}
	v.out = outcome{
		decision:  decision,
		taskQueue: v.route.TaskQueue,
		priority: temporal.Priority{
			PriorityKey:    s.priority.PriorityKey, // the caller's own key is kept
			FairnessKey:    v.route.FairnessKey,
			FairnessWeight: v.route.FairnessWeight,
		},
		tenant: v.tenant,
	}
	if !s.activity { // an activity has no memo
		v.out.memo = r.memoWithTenant(s.memo, v.tenant, v.route.FairnessKey)
	}
	return v, nil
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
