package interceptor

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
)

// DefaultLegacyQueue is the legacy task queue routed when no
// [WithLegacyQueues] option is given.
const DefaultLegacyQueue = "main-queue"

// DefaultMemoKey is the memo field read for the tenant ID when no
// [WithMemoKey] option is given.
const DefaultMemoKey = "tenant_id"

// TenantFunc returns the tenant ID of a start from its context, for example
// from authentication claims; "" means it does not know, and an error
// refuses the start. It is one tenant source among the context value and
// the memo field, and must agree with them. It is called for every client
// start, whatever queue it names, and never in workflow code.
// workflowType is the activity type for a standalone activity.
type TenantFunc func(ctx context.Context, workflowType string) (string, error)

// WeightFunc returns the fairness weight of a tenant: its share of its
// queue relative to other tenants. 0 means the server's default weight (1).
// The result is clamped to [[routing.MinWeight], [routing.MaxWeight]]; NaN
// or a negative weight refuses the start with [ErrInvalidWeight]. Weights
// can also be set on the server, for every client at once, with the
// tqrouter command's "weights apply".
type WeightFunc func(ctx context.Context, tenant string) float32

// Option configures a [Router].
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
	tenantHashKey      []byte
	tracerProvider     trace.TracerProvider
	meterProvider      metric.MeterProvider
	logger             log.Logger
	dataConverter      converter.DataConverter
	hotTenants         HotTenants
	backlog            BacklogFunc
	now                func() time.Time // the detector's clock; tests set it
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
// a tenant yet; the trace records each such start as a passthrough. A start
// with an invalid tenant (an empty [WithTenant] value among them), or with
// sources that disagree, is still refused.
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

// WithShadowMode makes the router compute, trace and count every decision
// but change nothing: no start is rerouted, none is refused. Use it to
// check a rollout against real traffic first.
func WithShadowMode() Option {
	return optionFunc(func(o *options) { o.shadow = true })
}

// WithTenantInTraces records raw tenant IDs in span attributes and in the
// hot-tenant log line, instead of their pseudonym (see
// [WithTenantHashKey]). Tenant IDs may be personal data.
func WithTenantInTraces() Option {
	return optionFunc(func(o *options) { o.tenantInTraces = true })
}

// WithTenantHashKey makes the tenant pseudonym in traces and logs
// (tqrouter.tenant.hash) an HMAC-SHA256 of the ID under key, instead of its
// plain SHA-256. The plain hash is a pseudonym, not privacy: anyone who
// can guess or list tenant IDs can hash them and link spans to tenants.
// With a secret key they cannot; keep the key the same across services so
// their traces still agree. An empty key is ignored.
func WithTenantHashKey(key []byte) Option {
	key = append([]byte(nil), key...)
	return optionFunc(func(o *options) {
		if len(key) > 0 {
			o.tenantHashKey = key
		}
	})
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

// WithMeterProvider sets the OpenTelemetry meter provider of the router's
// metrics (see the package documentation); the default is the global one.
// A nil mp is ignored.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(o *options) {
		if mp != nil {
			o.meterProvider = mp
		}
	})
}

// WithLogger sets the logger of the router's rare events (a tenant becomes
// hot, or cools down); pass the client's own logger
// (client.Options.Logger). The default logs through log/slog's default
// logger. A nil logger is ignored.
func WithLogger(l log.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.logger = l
		}
	})
}

// WithDataConverter sets the data converter the router encodes its tenant
// header with and decodes memo payloads with, on clients and workers. Pass
// client.Options.DataConverter when it has an encrypting codec, so that
// the tenant ID is encrypted at rest like your payloads; without it the
// header holds the ID as plain JSON (as the fairness key does). Every
// client and worker of a deployment must use the same. A nil dc is
// ignored.
func WithDataConverter(dc converter.DataConverter) Option {
	return optionFunc(func(o *options) {
		if dc != nil {
			o.dataConverter = dc
		}
	})
}

// WithHotTenants sets when a tenant counts as hot (see [HotTenants]);
// zero fields take their defaults.
func WithHotTenants(h HotTenants) Option {
	return optionFunc(func(o *options) {
		h.disabled = false
		o.hotTenants = h
	})
}

// WithoutHotTenants turns hot-tenant isolation off: every tenant's starts
// go to its shard (or pinned) queue, however many it makes.
func WithoutHotTenants() Option {
	return optionFunc(func(o *options) { o.hotTenants.disabled = true })
}

// withClock sets the hot-tenant detector's clock, for tests.
func withClock(now func() time.Time) Option {
	return optionFunc(func(o *options) { o.now = now })
}
