package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// TestWorkersDivertAFloodNoClientSees: a flood sent round-robin through 16
// client processes, each with its own router counting alone (no
// AttachClient), reaches its shard whole: no router sees Enter of its
// starts. The one worker process runs every workflow of the shard, and its
// router, counting the activities they schedule, sends the flood's
// activities to the tenant's overflow queue from about the Enter-th on,
// with the tenant's fairness key (the server merges the workflow's
// priority into its activity's, whatever the queue) and header; a shard-mate's activity
// stays on the shard. The flood's histories replay on a fresh router,
// which counts nothing on replay.
func TestWorkersDivertAFloodNoClientSees(t *testing.T) {
	const clients, perClient, shards = 16, interceptor.DefaultHotEnter - 1, 3
	const starts = clients * perClient
	cfg := routing.Config{Prefix: "divert", Shards: shards}
	// A long window, so that the flood's count does not decay while the
	// machine is slow: where it is diverted depends on the count alone.
	hot := interceptor.WithHotTenants(interceptor.HotTenants{Window: time.Minute})
	routers := make([]*interceptor.Router, clients)
	cs := make([]client.Client, clients)
	for i := range routers {
		router, err := interceptor.New(registry.Default(), cfg, hot)
		require.NoError(t, err)
		routers[i], cs[i] = router, dial(t, router)
	}
	workerRouter, err := interceptor.New(registry.Default(), cfg, hot)
	require.NoError(t, err)
	wc := dial(t, workerRouter)
	pollRoutedQueuesOn(t, wc, workerRouter, worker.Options{})

	shard := routing.TaskQueueName("divert", routing.Tenant, routing.StableShard("noisy", shards))
	overflow := routing.OverflowQueueName("divert", routing.Tenant, 0)
	ctx := interceptor.WithTenant(testContext(t), "noisy")
	runs := make([]client.WorkflowRun, starts)
	for i := range runs {
		run, err := cs[i%clients].ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: uniqueID(t, fmt.Sprintf("divert-flood-%d", i)), TaskQueue: "main-queue"},
			saasapp.UserOnboardingWorkflow, saasapp.Input{})
		require.NoError(t, err)
		runs[i] = run
	}
	outs := make([]saasapp.Output, starts)
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Go(func() { assert.NoError(t, run.Get(ctx, &outs[i])) })
	}
	wg.Wait()
	for i, router := range routers {
		require.Zero(t, router.HotTenants(), "client %d saw too little of the flood to isolate it", i)
	}
	ran := map[string]int{}
	for i, out := range outs {
		require.Equal(t, shard, out.WorkflowQueue, "flood workflow %d on the shard: no client isolated it", i)
		ran[out.ActivityQueue]++
		assert.Equal(t, "noisy", out.Tenant, "the activity knows its tenant, wherever it ran")
		if out.ActivityQueue == overflow {
			// (One that stayed may have run eagerly, handed to the worker
			// with its workflow task's answer, outside matching: the SDK
			// then sees no fairness key.)
			assert.Equal(t, "noisy", out.ActivityFairnessKey, "a moved activity keeps the tenant's fairness key")
		}
	}
	t.Logf("flood of %d through %d clients: activities on the shard %d, on the overflow queue %d", starts, clients, ran[shard], ran[overflow])
	assert.Equal(t, starts, ran[shard]+ran[overflow])
	assert.Equal(t, 1, workerRouter.HotTenants(), "the worker isolates the flood")
	// The Enter-th is the first moved; one more may stay if the count
	// decays a little between them.
	assert.LessOrEqual(t, ran[shard], interceptor.DefaultHotEnter, "the flood's later activities ran on the overflow queue")

	mate := ""
	for i := 0; mate == ""; i++ {
		if m := fmt.Sprintf("mate-%d", i); routing.StableShard(m, shards) == routing.StableShard("noisy", shards) {
			mate = m
		}
	}
	var out saasapp.Output
	run, err := cs[0].ExecuteWorkflow(interceptor.WithTenant(testContext(t), mate), client.StartWorkflowOptions{TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, &out))
	assert.Equal(t, shard, out.WorkflowQueue)
	assert.Equal(t, shard, out.ActivityQueue, "the shard-mate's activity ran on its shard")

	fresh, err := interceptor.New(registry.Default(), cfg, hot)
	require.NoError(t, err)
	for _, r := range runs {
		replay(t, fresh, history(t, wc, r.GetID(), r.GetRunID()))
	}
	assert.Zero(t, fresh.HotTenants(), "nothing is counted on replay")
}
