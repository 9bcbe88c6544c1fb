package e2e

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// BenchmarkStartThroughput measures workflow starts per second on the real
// server through a client without the router (baseline) and with it
// (routed), 8 callers at once. With -count N the two alternate N times in
// one run, so that drift of the server hits both alike:
//
//	go test -run '^$' -bench StartThroughput -benchtime 3s -count 6 ./e2e
//
// No workers run: the benchmark measures the start path only.
func BenchmarkStartThroughput(b *testing.B) {
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "tput", Shards: 8},
		interceptor.WithTracerProvider(noop.NewTracerProvider()))
	if err != nil {
		b.Fatal(err)
	}
	clients := []struct {
		name string
		c    client.Client
	}{{"baseline", dial(b)}, {"routed", dial(b, router)}}
	for _, tc := range clients {
		b.Run(tc.name, func(b *testing.B) {
			ctx := interceptor.WithTenant(context.Background(), "acme")
			b.SetParallelism(4) // 4 x GOMAXPROCS(2) callers
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := tc.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "starts/s")
		})
	}
}
