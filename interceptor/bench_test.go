package interceptor

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// nopNext is the cheapest possible next interceptor.
type nopNext struct {
	sdkinterceptor.ClientOutboundInterceptorBase
}

func (*nopNext) ExecuteWorkflow(context.Context, *sdkinterceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	return nil, nil
}

// BenchmarkExecuteWorkflow measures what the router adds to a start: the
// baseline calls the next interceptor directly; routed goes through the
// router with tracing off (a no-op tracer provider) and with a recording
// tracer (sampled spans, no exporter).
func BenchmarkExecuteWorkflow(b *testing.B) {
	ctx := WithTenant(context.Background(), "38d69f70-d254-41a7-9ebf-aeab054c8c61")
	newIn := func() *sdkinterceptor.ClientExecuteWorkflowInput {
		return &sdkinterceptor.ClientExecuteWorkflowInput{
			Options:      &client.StartWorkflowOptions{ID: "w", TaskQueue: "main-queue"},
			WorkflowType: "UserOnboardingWorkflow",
		}
	}
	b.Run("baseline", func(b *testing.B) {
		var next sdkinterceptor.ClientOutboundInterceptor = &nopNext{}
		in := newIn()
		b.ReportAllocs()
		for b.Loop() {
			_, _ = next.ExecuteWorkflow(ctx, in)
		}
	})
	for _, tc := range []struct {
		name   string
		tracer Option
	}{
		{"routed/tracing=off", WithTracerProvider(noop.NewTracerProvider())},
		{"routed/tracing=recording", WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32}, tc.tracer)
			if err != nil {
				b.Fatal(err)
			}
			out := router.InterceptClient(&nopNext{})
			in := newIn()
			b.ReportAllocs()
			for b.Loop() {
				_, _ = out.ExecuteWorkflow(ctx, in)
			}
		})
	}
	b.Run("passthrough/tracing=off", func(b *testing.B) {
		router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32}, WithTracerProvider(noop.NewTracerProvider()))
		if err != nil {
			b.Fatal(err)
		}
		out := router.InterceptClient(&nopNext{})
		in := newIn()
		in.Options.TaskQueue = "explicit-queue"
		b.ReportAllocs()
		for b.Loop() {
			_, _ = out.ExecuteWorkflow(ctx, in)
		}
	})
}
