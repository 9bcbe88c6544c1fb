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
// there. Of the flood's starts that reach the shard, each client's first
// keeps Temporal's default priority and the others, a suspect's, yield
// (priority key 4, as the server records it). A shard-mate's start stays
// on the shard, at the default priority. How many flood starts
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
	keys := map[int32]int{} // the priority keys of the flood's starts on the shard
	last := ""
	for i := range starts {
		id := uniqueID(t, fmt.Sprintf("fleet-flood-%d", i))
		c := cs[i%clients]
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
		require.NoError(t, err)
		rec := describe(t, c, id)
		last = rec.TaskQueue
		queues[last]++
		if last == shard {
			keys[rec.Priority.GetPriorityKey()]++
		}
	}
	t.Logf("flood of %d through %d clients: %d on the shard, %d on the overflow queue", starts, clients, queues[shard], queues[overflow])
	for i, router := range routers {
		assert.Equal(t, 1, router.HotTenants(), "client %d isolates the flood", i)
	}
	assert.Equal(t, overflow, last)
	assert.Equal(t, starts, queues[shard]+queues[overflow])
	assert.Less(t, queues[shard], starts/2, "most of the flood is isolated")
	// Each client's first start of the flood keeps the default priority;
	// its later ones on the shard, a suspect's, yield (key 4).
	t.Logf("the flood's starts on the shard by priority key: %v", keys)
	assert.Equal(t, clients, keys[0], "each client's first start keeps its priority")
	assert.Equal(t, queues[shard]-clients, keys[4], "the others yield")

	mate := ""
	for i := 0; mate == ""; i++ {
		if m := fmt.Sprintf("mate-%d", i); routing.StableShard(m, shards) == routing.StableShard("noisy", shards) {
			mate = m
		}
	}
	run, err := cs[0].ExecuteWorkflow(interceptor.WithTenant(testContext(t), mate), client.StartWorkflowOptions{TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
	require.NoError(t, err)
	rec := describe(t, cs[0], run.GetID())
	assert.Equal(t, shard, rec.TaskQueue, "the shard-mate stays on the shard")
	assert.Zero(t, rec.Priority.GetPriorityKey(), "the shard-mate does not yield")
}
