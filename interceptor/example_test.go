package interceptor_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// The one-line adoption: add the router to client.Options.Interceptors.
// Call sites keep naming "main-queue".
func ExampleNew() {
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32})
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.NewLazyClient(client.Options{
		HostPort:     "localhost:7233",
		Interceptors: []sdkinterceptor.ClientInterceptor{router},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Unchanged call site; the tenant comes from the request context.
	ctx := interceptor.WithTenant(context.Background(), "acme")
	_, _ = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "main-queue"}, "UserOnboardingWorkflow")
}

// Workers poll every queue the router may send a kind's starts to: its
// shard queues and its overflow queue (and pinned queues, if any).
func ExampleRouter_Table() {
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "saas", Shards: 4})
	if err != nil {
		log.Fatal(err)
	}
	queues, _ := router.Table().PollQueues(routing.Tenant)
	fmt.Println(queues)
	jobs, _ := router.Table().PollQueues(routing.Jobs)
	fmt.Println(jobs)
	// Output:
	// [saas.tenant.00 saas.tenant.01 saas.tenant.02 saas.tenant.03 saas.tenant.overflow-00]
	// [saas.jobs.00]
}

// Hot-tenant isolation is on by default; its thresholds can be tuned, per
// client process.
func ExampleWithHotTenants() {
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32, Overflow: 2},
		interceptor.WithHotTenants(interceptor.HotTenants{Window: 30 * time.Second, Enter: 50}),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(router.HotTenants())
	// Output: 0
}

// Fleet-wide hot-tenant isolation: the router goes into the client's
// options before the client exists; once the client is dialled, attach it,
// and the router asks the server how backlogged a suspected tenant's shard
// is (at most 5 requests a second), so that a flood spread over many API
// processes is isolated about as soon as one seen by a single process.
// Without AttachClient each process counts alone.
func ExampleRouter_AttachClient() {
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32})
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.NewLazyClient(client.Options{
		HostPort:     "localhost:7233",
		Namespace:    "default",
		Interceptors: []sdkinterceptor.ClientInterceptor{router},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	router.AttachClient(c, "default")
}

func ExampleWithTenant() {
	ctx := interceptor.WithTenant(context.Background(), "acme")
	tenant, ok := interceptor.TenantFromContext(ctx)
	fmt.Println(tenant, ok)
	// Output: acme true
}

// Per-tenant fairness weights, and a shadow rollout that only traces.
func ExampleWithWeightFunc() {
	weights := map[string]float32{"acme": 5, "globex": 0.5}
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32},
		interceptor.WithWeightFunc(func(_ context.Context, tenant string) float32 { return weights[tenant] }),
		interceptor.WithShadowMode(),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = router
}
