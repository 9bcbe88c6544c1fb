package interceptor

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// BenchmarkExecuteWorkflow measures what the router adds to a start: the
// baseline calls the next interceptor directly; routed goes through the
// router with tracing off (a no-op tracer provider), with hot-tenant
// counting off and on (starts spread over 1,000 tenants, none hot), with
// the OpenTelemetry metrics SDK, and with a recording tracer (sampled spans,
// no exporter); overflow is the start of a hot tenant.
func BenchmarkExecuteWorkflow(b *testing.B) {
	tenants := make([]context.Context, 1000)
	for i := range tenants {
		tenants[i] = WithTenant(context.Background(), fmt.Sprintf("%08x-d254-41a7-9ebf-aeab054c8c61", i))
	}
	newIn := func() *sdkinterceptor.ClientExecuteWorkflowInput {
		return &sdkinterceptor.ClientExecuteWorkflowInput{
			Options:      &client.StartWorkflowOptions{ID: "w", TaskQueue: "main-queue"},
			WorkflowType: "UserOnboardingWorkflow",
		}
	}
	b.Run("baseline", func(b *testing.B) {
		var next sdkinterceptor.ClientOutboundInterceptor = &fakeNext{}
		in := newIn()
		b.ReportAllocs()
		for b.Loop() {
			_, _ = next.ExecuteWorkflow(tenants[0], in)
		}
	})
	noTrace := WithTracerProvider(noop.NewTracerProvider())
	quiet := WithLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler))) // the hot tenant's log line would break the output
	meters := WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())))
	for _, tc := range []struct {
		name    string
		opts    []Option
		tenants int
	}{
		{"routed/hot=off/tracing=off", []Option{noTrace, WithoutHotTenants()}, 1000},
		{"routed/hot=on/tracing=off", []Option{noTrace}, 1000},
		{"routed/hot=on/tracing=off/metrics=sdk", []Option{noTrace, meters}, 1000},
		{"routed/hot=on/tracing=recording", []Option{WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())))}, 1000},
		{"overflow/tracing=off", []Option{noTrace, quiet}, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32}, tc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			out := router.InterceptClient(&fakeNext{})
			in := newIn()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				_, _ = out.ExecuteWorkflow(tenants[i%tc.tenants], in)
				i++
			}
		})
	}
	b.Run("passthrough/tracing=off", func(b *testing.B) {
		router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32}, noTrace)
		if err != nil {
			b.Fatal(err)
		}
		out := router.InterceptClient(&fakeNext{})
		in := newIn()
		in.Options.TaskQueue = "explicit-queue"
		b.ReportAllocs()
		for b.Loop() {
			_, _ = out.ExecuteWorkflow(tenants[0], in)
		}
	})
}

// BenchmarkTenantHeader measures writing the tenant header of a routed
// start, which the SDK's header map (absent in BenchmarkExecuteWorkflow,
// whose context has none) makes the router do on every real start.
func BenchmarkTenantHeader(b *testing.B) {
	router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32})
	if err != nil {
		b.Fatal(err)
	}
	const tenant = "38d69f70-d254-41a7-9ebf-aeab054c8c61"
	header := map[string]*commonpb.Payload{}
	b.Run("router", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = router.setTenantHeader(header, tenant)
		}
	})
	// The baseline: the same payload through the SDK's default converter.
	b.Run("sdk_default_converter", func(b *testing.B) {
		dc := converter.GetDefaultDataConverter()
		b.ReportAllocs()
		for b.Loop() {
			header[tenantHeader], _ = dc.ToPayload(tenant)
		}
	})
}

// BenchmarkWorkflowActivity measures what the worker side adds to an
// activity that workflow code schedules on its workflow's shard queue:
// the decision (activityStart and route) of a workflow's first activity,
// counted in the detector (1,000 tenants, none hot), and of a later one,
// which is not counted; the baseline is hot-tenant isolation off, where
// there is nothing to decide (activityStart declines it).
func BenchmarkWorkflowActivity(b *testing.B) {
	tenants := make([]context.Context, 1000)
	queues := make([]string, len(tenants))
	table, err := routing.NewTable(routing.Config{Prefix: "saas", Shards: 32})
	if err != nil {
		b.Fatal(err)
	}
	for i := range tenants {
		id := fmt.Sprintf("%08x-d254-41a7-9ebf-aeab054c8c61", i)
		tenants[i] = WithTenant(context.Background(), id)
		r, err := table.TenantRoute(routing.Tenant, id, 0)
		if err != nil {
			b.Fatal(err)
		}
		queues[i] = r.TaskQueue
	}
	noTrace := WithTracerProvider(noop.NewTracerProvider())
	for _, tc := range []struct {
		name          string
		opts          []Option
		countedBefore bool
	}{
		{"baseline/hot=off", []Option{noTrace, WithoutHotTenants()}, false},
		{"first/hot=on", []Option{noTrace}, false},
		{"later/hot=on", []Option{noTrace}, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32}, tc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if s, ok := router.activityStart("Work", "", queues[i%len(queues)]); ok {
					s.countedBefore = tc.countedBefore
					_, _ = router.route(tenants[i%len(tenants)], s)
				}
				i++
			}
		})
	}
}
