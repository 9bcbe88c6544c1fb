package interceptor

import (
	"crypto/sha256"
	"encoding/hex"

	"go.opentelemetry.io/otel/attribute"
)

const (
	// ScopeName is the instrumentation scope name of the router's tracer.
	ScopeName = "github.com/tqrouter/tqrouter/interceptor"
	// Version is the version of this package, reported as the tracer's
	// instrumentation version.
	Version = "0.1.0"
)

// Span attribute keys of a routing decision.
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
	// AttrErrorType is the OpenTelemetry semantic convention key error.type.
	AttrErrorType = attribute.Key("error.type")
)

// Decision is the outcome of routing one start, as recorded in traces.
type Decision string

// The decisions.
const (
	// Routed: the start was moved to a shard queue.
	Routed Decision = "routed"
	// Passthrough: the start was left as it was (see the reason attribute).
	Passthrough Decision = "passthrough"
	// Refused: the start was refused before it reached the server.
	Refused Decision = "refused"
	// Shadow: shadow mode computed a route but changed nothing.
	Shadow Decision = "shadow"
)

// Why a start passed through unchanged or went where it did; shadow mode
// records the reason it would have had.
const (
	reasonPinned           = "pinned_tenant"
	reasonUnregistered     = "unregistered"
	reasonExplicitQueue    = "explicit_queue"
	reasonAlreadyRouted    = "already_routed"
	reasonNoTenant         = "no_tenant_fallback"
	reasonWorkflowQueue    = "workflow_queue"
	reasonWorkflowOnLegacy = "workflow_on_legacy_queue"
)

// SpanName returns the name of the span of a routing decision for
// workflowType: "RouteWorkflow:" + workflowType for registered types, and
// "RouteWorkflow" for others, so that names come from a bounded set.
func SpanName(workflowType string, registered bool) string {
	if !registered {
		return "RouteWorkflow"
	}
	return "RouteWorkflow:" + workflowType
}

// ActivitySpanName is [SpanName] for a standalone activity (started by a
// client's ExecuteActivity) or an activity that workflow code scheduled on a
// legacy queue: "RouteActivity:" + activityType for registered types (and
// all activities scheduled by workflows), and "RouteActivity" for others.
func ActivitySpanName(activityType string, registered bool) string {
	if !registered {
		return "RouteActivity"
	}
	return "RouteActivity:" + activityType
}

// TenantHash returns the stable pseudonym of a tenant ID recorded in traces
// instead of the ID: the first 16 hex digits of its SHA-256.
func TenantHash(tenant string) string {
	sum := sha256.Sum256([]byte(tenant))
	return hex.EncodeToString(sum[:8])
}
