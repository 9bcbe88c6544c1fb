package interceptor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// startChecker checks every start that reaches it against the tenant of
// its context: same queue every time, the tenant's own fairness key.
type startChecker struct {
	t       *testing.T
	queues  sync.Map // tenant → first queue seen
	checked atomic.Int64
}

func (n *startChecker) check(ctx context.Context, in *sdkinterceptor.ClientExecuteWorkflowInput) {
	tenant, _ := TenantFromContext(ctx)
	if in.Options.TaskQueue == "main-queue" {
		return // an unregistered type, left alone
	}
	first, _ := n.queues.LoadOrStore(tenant, in.Options.TaskQueue)
	assert.Equal(n.t, first, in.Options.TaskQueue, "tenant %s changed queue", tenant)
	assert.Equal(n.t, tenant, in.Options.Priority.FairnessKey, "start counted under another tenant")
	assert.Nil(n.t, in.Options.Memo, "short tenant IDs travel as the fairness key alone")
	n.checked.Add(1)
}

// TestConcurrentStartsWhileRegistryChanges runs hundreds of goroutines
// starting workflows for many tenants while the registry gains types, under
// -race: a tenant's queue never changes within one configuration, and no
// start carries another tenant's fairness key.
func TestConcurrentStartsWhileRegistryChanges(t *testing.T) {
	reg := registry.Default()
	router, err := New(reg, routing.Config{Prefix: "saas", Shards: 32}, WithoutHotTenants())
	require.NoError(t, err)
	next := &startChecker{t: t}
	out := router.InterceptClient(&fakeNext{onExecute: next.check})

	const goroutines, starts, tenants, newTypes = 200, 50, 100, 300
	var writers sync.WaitGroup
	writers.Go(func() {
		for i := range newTypes {
			assert.NoError(t, reg.RegisterWorkflow(fmt.Sprintf("Dynamic%d", i), routing.Tenant))
		}
	})
	var wg sync.WaitGroup
	var refused atomic.Int64
	for g := range goroutines {
		wg.Go(func() {
			for i := range starts {
				tenant := fmt.Sprintf("tenant-%d", (g*starts+i)%tenants)
				workflowType := "UserOnboardingWorkflow"
				if i%3 == 0 {
					workflowType = fmt.Sprintf("Dynamic%d", (g+i)%newTypes) // registered or not yet
				}
				opts := &client.StartWorkflowOptions{TaskQueue: "main-queue"}
				_, err := out.ExecuteWorkflow(WithTenant(context.Background(), tenant), &sdkinterceptor.ClientExecuteWorkflowInput{Options: opts, WorkflowType: workflowType})
				if err != nil {
					refused.Add(1)
				}
				assert.Equal(t, "main-queue", opts.TaskQueue, "the caller's options are never written")
			}
		})
	}
	wg.Wait()
	writers.Wait()
	assert.Zero(t, refused.Load())
	assert.GreaterOrEqual(t, next.checked.Load(), int64(goroutines*starts*2/3))
	next.queues.Range(func(k, v any) bool {
		assert.Equal(t, routing.TaskQueueName("saas", routing.Tenant, routing.StableShard(k.(string), 32)), v)
		return true
	})
}
