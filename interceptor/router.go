package interceptor

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.temporal.io/api/common/v1"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// Router routes workflow starts, and standalone activity starts, from
// legacy task queues to the queues of a [routing.Table]. Create it with
// [New] and add it to client.Options.Interceptors. It is also a worker
// interceptor, and the SDK applies a client's interceptors to the workers
// made from that client: there it routes child workflows and
// continue-as-new started on a legacy queue, for the tenant of the
// workflow, keeps activities off the legacy queue, moves a hot tenant's
// activities off its shard queue to its overflow queue, and passes the
// tenant on to activities. It is safe for concurrent use.
type Router struct {
	sdkinterceptor.InterceptorBase // client and worker

	reg     *registry.Registry
	table   *routing.Table
	prefix  string // the table's prefix, read once: Table.Config copies its pins
	opts    options
	tracer  trace.Tracer
	metrics *instruments
	hot     *detector // nil without hot-tenant isolation
	// countMark is this router's value of countedHeader: a random
	// token, the same for every start it counts.
	countMark *commonpb.Payload
	ops       opSet // update-with-start operations made by this router

	// Per-start tracing costs, paid once: the span options, and the span
	// names of registered types (a bounded set).
	spanOpts          []trace.SpanStartOption
	spanNames         sync.Map // workflow type → span name
	activitySpanNames sync.Map // activity type → span name
}

var _ sdkinterceptor.Interceptor = (*Router)(nil)

// New returns a Router that routes the workflow types of reg according to
// cfg. An invalid cfg or option is an error wrapping
// [routing.ErrInvalidConfig].
func New(reg *registry.Registry, cfg routing.Config, opts ...Option) (*Router, error) {
	if reg == nil {
		return nil, fmt.Errorf("%w: nil registry", routing.ErrInvalidConfig)
	}
	table, err := routing.NewTable(cfg)
	if err != nil {
		return nil, err
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if len(o.legacyQueues) == 0 {
		return nil, fmt.Errorf("%w: no legacy queues", routing.ErrInvalidConfig)
	}
	for _, q := range o.legacyQueues {
		if q == "" || table.IsRouted(q) {
			return nil, fmt.Errorf("%w: legacy queue %q is empty or a routed queue", routing.ErrInvalidConfig, q)
		}
	}
	if err := o.hotTenants.validate(); err != nil {
		return nil, err
	}
	if o.logger == nil {
		o.logger = log.NewStructuredLogger(slog.Default())
	}
	r := &Router{
		reg:      reg,
		table:    table,
		prefix:   cfg.Prefix,
		opts:     o,
		tracer:   o.tracerProvider.Tracer(ScopeName, trace.WithInstrumentationVersion(Version)),
		ops:      newOpSet(),
		spanOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)},
	}
	if r.metrics, err = newInstruments(o.meterProvider); err != nil {
		return nil, fmt.Errorf("%w: metrics: %v", routing.ErrInvalidConfig, err)
	}
	if !o.hotTenants.disabled {
		r.countMark = newCountMark()
		r.hot = newDetector(o.hotTenants, o.now, o.backlog)
		r.hot.fleet.answered = r.metrics.backlogRequest
		r.metrics.observeHot(r.hot)
	}
	return r, nil
}

func defaultOptions() options {
	return options{
		legacyQueues:   []string{DefaultLegacyQueue},
		memoKey:        DefaultMemoKey,
		tracerProvider: otel.GetTracerProvider(),
		meterProvider:  otel.GetMeterProvider(),
	}
}

// Table returns the routing table of r: use its PollQueues to list the
// queues workers must poll.
func (r *Router) Table() *routing.Table { return r.table }

// HotTenants returns how many tenants this router isolates on overflow
// queues now; 0 without hot-tenant isolation.
func (r *Router) HotTenants() int {
	if r.hot == nil {
		return 0
	}
	return r.hot.active()
}

// isLegacy reports whether queue is one of the legacy queues whose starts
// are routed.
func (r *Router) isLegacy(queue string) bool { return slices.Contains(r.opts.legacyQueues, queue) }

// InterceptClient implements the SDK's ClientInterceptor.
func (r *Router) InterceptClient(next sdkinterceptor.ClientOutboundInterceptor) sdkinterceptor.ClientOutboundInterceptor {
	out := &clientOutbound{root: r}
	out.Next = next
	return out
}

// countedHeader is the header in which a router's client marks a start
// its hot-tenant detector counted, with the router's own random token
// (countMark), so that its worker side, when it runs the workflow, does not
// count the workflow's activities again (see decideWorkflowActivity). It
// names no tenant and means nothing to another process.
const countedHeader = "tqrouter-counted-by"

// newCountMark returns a router's countedHeader payload: a random token
// (rand.Text: 128 bits), as plain bytes.
func newCountMark() *commonpb.Payload {
	return &commonpb.Payload{
		Metadata: map[string][]byte{"encoding": []byte("binary/plain")},
		Data:     []byte(rand.Text()),
	}
}

// countedHere reports whether header marks a start this router counted.
func (r *Router) countedHere(header map[string]*commonpb.Payload) bool {
	p := header[countedHeader]
	return r.countMark != nil && p != nil && string(p.GetData()) == string(r.countMark.GetData())
}
