package e2e

import (
	"context"
	"flag"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// throughputRounds is how many times BenchmarkStartThroughput alternates
// its two clients.
var throughputRounds = flag.Int("rounds", 8, "rounds of BenchmarkStartThroughput")

// BenchmarkStartThroughput measures workflow starts per second on the real
// server through a client without the router (baseline), with it (routed),
// and with it in shadow mode, 8 callers at once. The two alternate, round by round, so that
// drift of the server (its backlog grows: no workers run) hits both alike;
// -count would run each one's repetitions back to back instead:
//
//	go test -run '^$' -bench StartThroughput -benchtime 2s ./e2e -args -rounds 8 | tee bench/throughput.txt
//	benchstat -col /client -ignore /round bench/throughput.txt
func BenchmarkStartThroughput(b *testing.B) {
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "tput", Shards: 8},
		interceptor.WithTracerProvider(noop.NewTracerProvider()))
	if err != nil {
		b.Fatal(err)
	}
	// shadow does all of the router's work but sends the start unchanged:
	// it tells the router's own cost from the server's cost of a routed
	// start (another queue, a fairness key).
	shadow, err := interceptor.New(registry.Default(), routing.Config{Prefix: "tput", Shards: 8},
		interceptor.WithTracerProvider(noop.NewTracerProvider()), interceptor.WithShadowMode())
	if err != nil {
		b.Fatal(err)
	}
	clients := []struct {
		name string
		c    client.Client
	}{{"baseline", dial(b)}, {"routed", dial(b, router)}, {"shadow", dial(b, shadow)}}
	for round := range *throughputRounds {
		for _, tc := range clients {
			b.Run(fmt.Sprintf("round=%d/client=%s", round, tc.name), func(b *testing.B) {
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
}
