package interceptor

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// The headers a workflow's trace travels in. The SDK's OpenTelemetry
// tracing interceptor (go.temporal.io/sdk/contrib/opentelemetry) writes the
// span of a workflow's start under sdkTraceHeader; the router writes the
// span of its routing decision under traceHeader, so that its worker-side
// spans join the trace of the start even without that interceptor. Both
// hold a W3C trace context as a JSON map.
const (
	sdkTraceHeader = "_tracer-data"
	traceHeader    = "tqrouter-trace"
)

// parentContext returns a context carrying the remote span of a workflow's
// start, from its header: the SDK tracing interceptor's, else the
// router's; context.Background() when there is none.
func parentContext(header map[string]*commonpb.Payload) context.Context {
	for _, key := range []string{sdkTraceHeader, traceHeader} {
		p, ok := header[key]
		if !ok {
			continue
		}
		var carrier map[string]string
		if converter.GetDefaultDataConverter().FromPayload(p, &carrier) != nil {
			continue
		}
		ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(carrier))
		if trace.SpanContextFromContext(ctx).IsValid() {
			return ctx
		}
	}
	return context.Background()
}

// injectTrace writes sc, if it is valid (a recorded span), into header
// under traceHeader; it costs nothing when tracing is off.
func injectTrace(sc trace.SpanContext, header map[string]*commonpb.Payload) {
	if header == nil || !sc.IsValid() {
		return
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
	if p, err := converter.GetDefaultDataConverter().ToPayload(map[string]string(carrier)); err == nil {
		header[traceHeader] = p
	}
}

// injectParent is injectTrace for a start made by workflow code: its
// children and continue-as-new join the workflow's trace.
func injectParent(parent context.Context, header map[string]*commonpb.Payload) {
	injectTrace(trace.SpanContextFromContext(parent), header)
}
