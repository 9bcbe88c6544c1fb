package interceptor

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tqrouter/tqrouter/routing"
)

// The router's metric names.
const (
	// MetricDecisions counts routing decisions, by decision, queue kind,
	// start path, reason and, for refusals, error type.
	MetricDecisions = "tqrouter.route.decisions"
	// MetricIsolations counts the times a tenant became hot and its new
	// starts were sent to an overflow queue, by queue kind and
	// [AttrHotEvidence].
	MetricIsolations = "tqrouter.hot_tenant.isolations"
	// MetricBacklogRequests counts the router's requests to the server for
	// a shard queue's backlog (see [Router.AttachClient]); those that
	// failed have [AttrErrorType] "timeout", "panic" or "error".
	MetricBacklogRequests = "tqrouter.hot_tenant.backlog_requests"
	// MetricHotTenants is the number of (tenant, kind) pairs isolated on
	// overflow queues now. It is updated at starts, so it can lag by one
	// start after a tenant falls quiet.
	MetricHotTenants = "tqrouter.hot_tenant.active"
)

// instruments are the router's metrics. Their attributes come from bounded
// sets; no tenant ID or queue name is ever one.
type instruments struct {
	decisions  metric.Int64Counter
	isolations metric.Int64Counter
	requests   metric.Int64Counter
	meter      metric.Meter
	sets       sync.Map // decisionKey → []metric.AddOption holding its attribute set
}

type decisionKey struct {
	path, decision, kind, reason, errType string
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	m := &instruments{meter: mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version))}
	var err error
	if m.decisions, err = m.meter.Int64Counter(MetricDecisions,
		metric.WithDescription("Routing decisions of workflow and activity starts."),
		metric.WithUnit("{decision}")); err != nil {
		return nil, err
	}
	if m.isolations, err = m.meter.Int64Counter(MetricIsolations,
		metric.WithDescription("Times a tenant became hot and its new starts went to an overflow queue."),
		metric.WithUnit("{isolation}")); err != nil {
		return nil, err
	}
	if m.requests, err = m.meter.Int64Counter(MetricBacklogRequests,
		metric.WithDescription("Requests to the server for a shard queue's backlog."),
		metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	return m, nil
}

// observeHot reports the detector's hot tenants as a gauge.
func (m *instruments) observeHot(d *detector) {
	// An error here means the provider refuses the instrument; the router
	// works without it.
	_, _ = m.meter.Int64ObservableGauge(MetricHotTenants,
		metric.WithDescription("Tenants (per queue kind) whose new starts go to overflow queues now."),
		metric.WithUnit("{tenant}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(d.active()))
			return nil
		}))
}

// decision counts one decision. The attribute sets are made once per
// combination (a bounded set), so counting allocates nothing after that.
func (m *instruments) decision(ctx context.Context, path string, d Decision, kind routing.QueueKind, reason string, err error) {
	k := decisionKey{path: path, decision: string(d), kind: string(kind), reason: reason}
	if err != nil {
		k.errType = errorType(err)
	}
	opt, ok := m.sets.Load(k)
	if !ok {
		attrs := []attribute.KeyValue{AttrDecision.String(k.decision), AttrStartPath.String(k.path)}
		if k.kind != "" {
			attrs = append(attrs, AttrQueueKind.String(k.kind))
		}
		if k.reason != "" {
			attrs = append(attrs, AttrReason.String(k.reason))
		}
		if k.errType != "" {
			attrs = append(attrs, AttrErrorType.String(k.errType))
		}
		opt, _ = m.sets.LoadOrStore(k, []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrs...))})
	}
	m.decisions.Add(ctx, 1, opt.([]metric.AddOption)...)
}

// isolation counts a tenant that became hot, on evidence "local" or
// "server".
func (m *instruments) isolation(ctx context.Context, kind routing.QueueKind, evidence string) {
	m.isolations.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(AttrQueueKind.String(string(kind)), AttrHotEvidence.String(evidence))))
}

// backlogRequest counts one request for a shard queue's backlog.
func (m *instruments) backlogRequest(err error) {
	var opts []metric.AddOption
	if err != nil {
		kind := "error"
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			kind = "timeout"
		case errors.Is(err, errBacklogPanic):
			kind = "panic"
		}
		opts = append(opts, metric.WithAttributeSet(attribute.NewSet(AttrErrorType.String(kind))))
	}
	m.requests.Add(context.Background(), 1, opts...)
}
