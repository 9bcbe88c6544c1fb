package interceptor

import (
	"context"

	"go.opentelemetry.io/otel/trace"
)

// DefaultLegacyQueue is the legacy task queue routed when no
// [WithLegacyQueues] option is given.
const DefaultLegacyQueue = "main-queue"

// DefaultMemoKey is the memo field read for the tenant ID when no
// [WithMemoKey] option is given.
const DefaultMemoKey = "tenant_id"

// TenantFunc returns the tenant ID of a start from its context, for example
// from authentication claims; "" means it does not know. It is one tenant
// source among the context value and the memo field, and must agree with
// them. workflowType is the activity type for a standalone activity.
type TenantFunc func(ctx context.Context, workflowType string) (string, error)

// WeightFunc returns the fairness weight of a tenant: its share of its shard
// queue relative to other tenants. 0 means the server's default weight (1).
// The result is clamped to [[routing.MinWeight], [routing.MaxWeight]]; NaN
// or a negative weight refuses the start with [ErrInvalidWeight].
type WeightFunc func(ctx context.Context, tenant string) float32

// Option configures an [Interceptor].
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	legacyQueues       []string
	memoKey            string
	tenantFunc         TenantFunc
	weightFunc         WeightFunc
	legacyFallback     bool
	refuseUnregistered bool
	shadow             bool
	tenantInTraces     bool
	tracerProvider     trace.TracerProvider
	pins               map[string]string // tenant → label
}

// WithLegacyQueues sets the task queues whose starts are routed, replacing
// the default [DefaultLegacyQueue]. Starts naming any other queue are left
// alone.
func WithLegacyQueues(queues ...string) Option {
	queues = append([]string(nil), queues...)
	return optionFunc(func(o *options) { o.legacyQueues = queues })
}

// WithMemoKey sets the memo field that holds the tenant ID (default
// [DefaultMemoKey]). An empty key is ignored.
func WithMemoKey(key string) Option {
	return optionFunc(func(o *options) {
		if key != "" {
			o.memoKey = key
		}
	})
}

// WithTenantFunc adds a tenant source computed from the start's context. A
// nil f is ignored.
func WithTenantFunc(f TenantFunc) Option {
	return optionFunc(func(o *options) {
		if f != nil {
			o.tenantFunc = f
		}
	})
}

// WithWeightFunc sets the per-tenant fairness weight. Without it, a
// caller's own Priority.FairnessWeight is kept. A nil f is ignored.
func WithWeightFunc(f WeightFunc) Option {
	return optionFunc(func(o *options) {
		if f != nil {
			o.weightFunc = f
		}
	})
}

// WithLegacyFallback lets a tenant-scoped start with no tenant ID run on the
// legacy queue it named, unchanged, instead of being refused with
// [ErrMissingTenant]. Meant for migrations where some call sites do not pass
// a tenant yet; the trace records each such start as a passthrough.
func WithLegacyFallback() Option {
	return optionFunc(func(o *options) { o.legacyFallback = true })
}

// WithRefuseUnregistered refuses, with [ErrUnregisteredWorkflow], starts on
// a legacy queue of workflow types the registry does not know, and, with
// [ErrUnregisteredActivity], standalone activities of unknown activity
// types, instead of leaving them on the legacy queue.
func WithRefuseUnregistered() Option {
	return optionFunc(func(o *options) { o.refuseUnregistered = true })
}

// WithShadowMode makes the router compute and trace every decision but
// change nothing: no start is rerouted, none is refused. Use it to check a
// rollout against real traffic first.
func WithShadowMode() Option {
	return optionFunc(func(o *options) { o.shadow = true })
}

// WithTenantInTraces records raw tenant IDs in span attributes. Tenant IDs
// may be personal data, so by default spans carry only a stable hash.
func WithTenantInTraces() Option {
	return optionFunc(func(o *options) { o.tenantInTraces = true })
}

// WithTracerProvider sets the OpenTelemetry tracer provider; the default is
// the global one. A nil tp is ignored.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(o *options) {
		if tp != nil {
			o.tracerProvider = tp
		}
	})
}

// WithPinnedTenant gives a tenant queues of its own: its tenant-scoped
// starts go to "{prefix}.{kind}.pinned-{label}" instead of its shard, the
// isolation Temporal advises for a problem tenant. label is 1 to 64 ASCII
// letters, digits, '-' or '_' (checked by [New]); the fairness key stays
// the tenant's. Workers must poll [Interceptor.PinnedQueues]. Later pins of
// the same tenant win.
func WithPinnedTenant(tenant, label string) Option {
	return optionFunc(func(o *options) {
		if o.pins == nil {
			o.pins = map[string]string{}
		}
		o.pins[tenant] = label
	})
}
