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

// printQueue is a client interceptor that prints the queue of each start
// instead of sending it.
type printQueue struct {
	sdkinterceptor.ClientOutboundInterceptorBase
}

func (*printQueue) ExecuteWorkflow(_ context.Context, in *sdkinterceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	fmt.Println(in.Options.TaskQueue)
	return nil, nil
}

// Hot-tenant isolation is on by default; its thresholds can be tuned, per
// client process. Here a tenant is hot once it makes 3 starts in a burst:
// from its third start on, its starts go to the overflow queue, so that
// the other tenants of its shard are not queued behind its flood.
func ExampleWithHotTenants() {
	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32},
		interceptor.WithHotTenants(interceptor.HotTenants{Window: time.Minute, Enter: 3}),
	)
	if err != nil {
		log.Fatal(err)
	}
	// The router in front of an interceptor that prints where each start
	// goes; in a client, the SDK would send it.
	starts := router.InterceptClient(&printQueue{})
	ctx := interceptor.WithTenant(context.Background(), "acme")
	for range 4 {
		_, _ = starts.ExecuteWorkflow(ctx, &sdkinterceptor.ClientExecuteWorkflowInput{
			Options:      &client.StartWorkflowOptions{TaskQueue: "main-queue"},
			WorkflowType: "UserOnboardingWorkflow",
		})
	}
	fmt.Println("hot tenants:", router.HotTenants())
	// Output:
	// saas.tenant.13
	// saas.tenant.13
	// saas.tenant.overflow-00
	// saas.tenant.overflow-00
	// hot tenants: 1
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
