package e2e

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// TestFleetIsolatesAFloodSpreadOverClients: a flood sent round-robin
// through four client processes, each with its own router and client, is
// isolated by every one of them on the server's word, though none sees
// enough of it to isolate it alone (Enter is set out of reach). The
// routers ask the real server (Router.AttachClient) for the shard queue's
// backlog: nothing polls the shard, so the flood's workflow tasks wait
// there. A shard-mate's start stays on the shard. How many flood starts
// reach the shard first depends on how soon the server's answers come back;
// the bound is proven in starts, with a fake server, by the interceptor's
// TestFleetFloodIsolatedAsQuicklyAsOneProcess.
func TestFleetIsolatesAFloodSpreadOverClients(t *testing.T) {
	const clients, starts, shards = 4, 200, 3
	cfg := routing.Config{Prefix: "fleet", Shards: shards}
	routers := make([]*interceptor.Router, clients)
	cs := make([]client.Client, clients)
	for i := range routers {
		router, err := interceptor.New(registry.Default(), cfg,
			interceptor.WithHotTenants(interceptor.HotTenants{Enter: 1000}))
		require.NoError(t, err)
		c := dial(t, router)
		router.AttachClient(c, server.Namespace())
		routers[i], cs[i] = router, c
	}
	shard := routing.TaskQueueName("fleet", routing.Tenant, routing.StableShard("noisy", shards))
	overflow := routing.OverflowQueueName("fleet", routing.Tenant, 0)

	ctx := interceptor.WithTenant(testContext(t), "noisy")
	queues := map[string]int{}
	last := ""
	for i := range starts {
		id := uniqueID(t, fmt.Sprintf("fleet-flood-%d", i))
		c := cs[i%clients]
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
		require.NoError(t, err)
		last = describe(t, c, id).TaskQueue
		queues[last]++
	}
	t.Logf("flood of %d through %d clients: %d on the shard, %d on the overflow queue", starts, clients, queues[shard], queues[overflow])
	for i, router := range routers {
		assert.Equal(t, 1, router.HotTenants(), "client %d isolates the flood", i)
	}
	assert.Equal(t, overflow, last)
	assert.Equal(t, starts, queues[shard]+queues[overflow])
	assert.Less(t, queues[shard], starts/2, "most of the flood is isolated")

	mate := ""
	for i := 0; mate == ""; i++ {
		if m := fmt.Sprintf("mate-%d", i); routing.StableShard(m, shards) == routing.StableShard("noisy", shards) {
			mate = m
		}
	}
	run, err := cs[0].ExecuteWorkflow(interceptor.WithTenant(testContext(t), mate), client.StartWorkflowOptions{TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
	require.NoError(t, err)
	assert.Equal(t, shard, describe(t, cs[0], run.GetID()).TaskQueue, "the shard-mate stays on the shard")
}
