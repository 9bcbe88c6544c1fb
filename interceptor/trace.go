package interceptor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tqrouter/tqrouter/routing"
)

const (
	// ScopeName is the instrumentation scope name of the router's tracer
	// and meter.
	ScopeName = "github.com/tqrouter/tqrouter/interceptor"
	// Version is the version of this package, reported as the
	// instrumentation version.
	Version = "0.2.0"
)

// Attribute keys of a routing decision's span. The metrics use
// AttrDecision, AttrQueueKind, AttrStartPath, AttrReason, AttrHotEvidence
// and AttrErrorType, which come from bounded sets; never a tenant.
const (
	AttrWorkflowType  = attribute.Key("tqrouter.workflow.type")
	AttrStartPath     = attribute.Key("tqrouter.start.path")
	AttrQueueKind     = attribute.Key("tqrouter.queue.kind")
	AttrShard         = attribute.Key("tqrouter.shard")
	AttrOriginalQueue = attribute.Key("tqrouter.task_queue.original")
	AttrChosenQueue   = attribute.Key("tqrouter.task_queue.chosen")
	AttrDecision      = attribute.Key("tqrouter.decision")
	AttrReason        = attribute.Key("tqrouter.reason")
	AttrWeight        = attribute.Key("tqrouter.fairness.weight")
	AttrTenantID      = attribute.Key("tqrouter.tenant.id")
	AttrTenantHash    = attribute.Key("tqrouter.tenant.hash")
	// AttrHotEvidence says what made a tenant hot: "local" (its starts
	// through this process) or "server" (its burst here, and its shard's
	// backlog on the server; see [Router.AttachClient]).
	AttrHotEvidence = attribute.Key("tqrouter.hot_tenant.evidence")
	// AttrErrorType is the OpenTelemetry semantic convention key error.type.
	AttrErrorType = attribute.Key("error.type")
)

// Decision is the outcome of routing one start, as recorded in traces and
// metrics.
type Decision string

// The decisions.
const (
	// Routed: the start goes to a routed queue with its tenant's fairness
	// key: moved there from a legacy queue (its shard, its pinned queue,
	// or a kind's one queue), or named by the caller (reason
	// already_routed).
	Routed Decision = "routed"
	// Overflow: the start's tenant is hot (its starts flood), and the
	// start was moved to an overflow queue of its kind.
	Overflow Decision = "overflow"
	// Passthrough: the start was left as it was (see the reason
	// attribute); its tenant sources were still checked.
	Passthrough Decision = "passthrough"
	// Refused: the start was refused before it reached the server.
	Refused Decision = "refused"
	// Shadow: shadow mode computed a decision but changed nothing.
	Shadow Decision = "shadow"
)

// Why a start passed through unchanged or went where it did; shadow mode
// records the reason it would have had.
const (
	reasonPinned           = "pinned_tenant"
	reasonHotTenant        = "hot_tenant"
	reasonSuspectTenant    = "suspect_tenant"
	reasonUnregistered     = "unregistered"
	reasonExplicitQueue    = "explicit_queue"
	reasonAlreadyRouted    = "already_routed"
	reasonNoTenant         = "no_tenant_fallback"
	reasonWorkflowQueue    = "workflow_queue"
	reasonWorkflowOnLegacy = "workflow_on_legacy_queue"
)

// The span event of a tenant that becomes hot at this start.
const eventHotTenant = "tqrouter.hot_tenant.isolated"

// spanName is the name of the span of a routing decision:
// "RouteWorkflow:" + typeName for a workflow and "RouteActivity:" +
// typeName for an activity, and "RouteWorkflow" or "RouteActivity" alone
// when typeName is "" (a type the registry does not know), so that names
// come from a bounded set.
func spanName(subj subject, typeName string) string {
	base := "RouteWorkflow"
	if subj == activitySubject {
		base = "RouteActivity"
	}
	if typeName == "" {
		return base
	}
	return base + ":" + typeName
}

// spanName is the span name of s, kept per type so that routing a start
// does not build a string. Types the registry does not know are not
// named; activities made by workflow code are, as their types come from
// the workflow code.
func (r *Router) spanName(s start) string {
	if !s.registered || s.workflowType == "" {
		return spanName(s.subject, "")
	}
	names := &r.spanNames
	if s.subject == activitySubject {
		names = &r.activitySpanNames
	}
	if n, ok := names.Load(s.workflowType); ok {
		return n.(string)
	}
	n := spanName(s.subject, s.workflowType)
	names.Store(s.workflowType, n)
	return n
}

// tenantHash is the pseudonym of a tenant in traces and logs: the first 16
// hex digits of its SHA-256, or of its HMAC-SHA256 under key.
func tenantHash(tenant string, key []byte) string {
	var sum []byte
	if len(key) > 0 {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(tenant))
		sum = m.Sum(nil)
	} else {
		s := sha256.Sum256([]byte(tenant))
		sum = s[:]
	}
	return hex.EncodeToString(sum[:8])
}

// tenantAttr is the tenant's attribute: its ID with WithTenantInTraces,
// else its pseudonym.
func (r *Router) tenantAttr(tenant string) attribute.KeyValue {
	if r.opts.tenantInTraces {
		return AttrTenantID.String(tenant)
	}
	return AttrTenantHash.String(tenantHash(tenant, r.opts.tenantHashKey))
}

func (r *Router) annotate(span trace.Span, s start, d Decision, v verdict, err error) {
	span.SetAttributes(AttrStartPath.String(s.path), AttrDecision.String(string(d)))
	if s.workflowType != "" {
		span.SetAttributes(AttrWorkflowType.String(s.workflowType))
	}
	if s.taskQueue != "" {
		span.SetAttributes(AttrOriginalQueue.String(s.taskQueue))
	}
	if rt := v.route; rt.TaskQueue != "" {
		span.SetAttributes(
			AttrQueueKind.String(string(rt.Kind)),
			AttrChosenQueue.String(rt.TaskQueue),
		)
		if rt.Role == routing.ShardQueue {
			span.SetAttributes(AttrShard.Int(rt.Shard))
		}
		if rt.FairnessWeight != 0 {
			span.SetAttributes(AttrWeight.Float64(float64(rt.FairnessWeight)))
		}
	}
	if v.reason != "" {
		span.SetAttributes(AttrReason.String(v.reason))
	}
	if v.tenant != "" {
		span.SetAttributes(r.tenantAttr(v.tenant))
	}
	if v.change == becameHot {
		span.AddEvent(eventHotTenant, trace.WithAttributes(r.tenantAttr(v.tenant), AttrChosenQueue.String(v.route.TaskQueue),
			AttrHotEvidence.String(v.evidence())))
	}
	if err != nil {
		span.SetAttributes(AttrErrorType.String(errorType(err)))
	}
}

// logChanges logs the tenants that became hot or cooled down, with their
// pseudonym (or ID with WithTenantInTraces): operators learn which tenant
// floods from logs and spans, never from metric attributes.
func (r *Router) logChanges(v verdict) {
	switch v.change {
	case becameHot:
		r.opts.logger.Warn("tqrouter: tenant is hot, isolating its new starts on an overflow queue",
			"kind", string(v.route.Kind), r.tenantLogKey(), r.tenantLogValue(v.tenant), "queue", v.route.TaskQueue)
	case cooledDown:
		r.opts.logger.Info("tqrouter: tenant cooled down, its starts go to its shard again",
			"kind", string(v.route.Kind), r.tenantLogKey(), r.tenantLogValue(v.tenant))
	}
	for _, c := range v.swept {
		r.opts.logger.Info("tqrouter: tenant cooled down, its starts go to its shard again",
			"kind", string(c.kind), r.tenantLogKey(), r.tenantLogValue(c.tenant))
	}
}

func (r *Router) tenantLogKey() string {
	if r.opts.tenantInTraces {
		return string(AttrTenantID)
	}
	return string(AttrTenantHash)
}

func (r *Router) tenantLogValue(tenant string) string {
	if r.opts.tenantInTraces {
		return tenant
	}
	return tenantHash(tenant, r.opts.tenantHashKey)
}

// errorType is the low-cardinality error.type of a refusal.
func errorType(err error) string {
	for _, e := range []struct {
		err  error
		name string
	}{
		// A workflow whose tenant cannot be read is ErrMissingTenant and
		// its cause: the cause is the more precise type.
		{ErrTenantMismatch, "tenant_mismatch"},
		{ErrInvalidTenant, "invalid_tenant"},
		{ErrMissingTenant, "missing_tenant"},
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
