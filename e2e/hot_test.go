package e2e

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/routing"
)

// TestHotTenantGoesToOverflow: a tenant that floods is isolated on its
// kind's overflow queue once it is hot; the server records its later starts
// there, with its fairness key, while a shard-mate stays on the shard.
// Every workflow completes (the overflow queue is polled by the same
// workers). A child that an overflowed workflow names on main-queue goes to
// the tenant's shard: a decision from history, not from the detector, so
// the history replays.
func TestHotTenantGoesToOverflow(t *testing.T) {
	const shards, enter = 3, 5
	router, c := newRouter(t, routing.Config{Prefix: "hot", Shards: shards}, interceptor.WithHotTenants(interceptor.HotTenants{Enter: enter}))
	pollRoutedQueues(t, router)
	shard := routing.TaskQueueName("hot", routing.Tenant, routing.StableShard("noisy", shards))
	overflow := routing.OverflowQueueName("hot", routing.Tenant, 0)

	ctx := interceptor.WithTenant(testContext(t), "noisy")
	ids := make([]string, 12)
	runs := make([]client.WorkflowRun, len(ids))
	for i := range ids {
		ids[i] = uniqueID(t, fmt.Sprintf("flood-%d", i))
		in := saasapp.Input{}
		if i == len(ids)-1 {
			in = saasapp.Input{Child: "UserOnboardingWorkflow", ChildQueue: "main-queue"}
		}
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: "main-queue"}, saasapp.TenantProvisioningWorkflow, in)
		require.NoError(t, err)
		runs[i] = run
	}
	mate := ""
	for i := 0; mate == ""; i++ {
		if m := fmt.Sprintf("mate-%d", i); routing.StableShard(m, shards) == routing.StableShard("noisy", shards) {
			mate = m
		}
	}
	mateRun, err := c.ExecuteWorkflow(interceptor.WithTenant(testContext(t), mate), client.StartWorkflowOptions{TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
	require.NoError(t, err)

	var wg sync.WaitGroup
	outs := make([]saasapp.Output, len(runs))
	for i, run := range runs {
		wg.Go(func() { assert.NoError(t, run.Get(ctx, &outs[i])) })
	}
	wg.Go(func() { assert.NoError(t, mateRun.Get(ctx, nil)) })
	wg.Wait()

	for i, id := range ids {
		got := describe(t, c, id)
		switch n := i + 1; {
		case n < enter:
			assert.Equal(t, shard, got.TaskQueue, "start %d of the flood", n)
		case n > enter:
			assert.Equal(t, overflow, got.TaskQueue, "start %d of the flood", n)
		default: // the count decays between starts, so it may reach Enter a start later
			assert.Contains(t, []string{shard, overflow}, got.TaskQueue)
		}
		assert.Equal(t, "noisy", got.Priority.GetFairnessKey())
	}
	assert.Equal(t, shard, describe(t, c, mateRun.GetID()).TaskQueue, "the shard-mate stays on the shard")
	last := outs[len(outs)-1]
	assert.Equal(t, overflow, last.WorkflowQueue)
	require.NotNil(t, last.Child)
	assert.Equal(t, shard, last.Child.WorkflowQueue, "a child named on main-queue goes to the tenant's shard")
	assert.Equal(t, 1, router.HotTenants())
	replay(t, router, history(t, c, ids[len(ids)-1], runs[len(runs)-1].GetRunID()))
}
