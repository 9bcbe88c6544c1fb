package workers_test

import (
	"fmt"
	"log"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/routing"
	"github.com/tqrouter/tqrouter/workers"
)

// One budget of 12 activities at once for all 32 shard queues of the
// tenant kind: capacity goes to the shards that have work. Without it,
// each of the 32 workers would have worker.Options' own limits.
func ExampleWithBudget() {
	c, err := client.NewLazyClient(client.Options{HostPort: "localhost:7233"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	table, err := routing.NewTable(routing.Config{Prefix: "saas", Shards: 32})
	if err != nil {
		log.Fatal(err)
	}
	queues, err := table.PollQueues(routing.Tenant)
	if err != nil {
		log.Fatal(err)
	}
	budget, err := workers.NewBudget(12)
	if err != nil {
		log.Fatal(err)
	}
	group, err := workers.New(c, queues, worker.Options{}, func(r worker.Registry) {
		// r.RegisterWorkflow(...); r.RegisterActivity(...)
	}, workers.WithBudget(budget))
	if err != nil {
		log.Fatal(err)
	}
	_ = group // group.Run(worker.InterruptCh()) runs until SIGINT or a fatal worker error
}

// A budget of 12 activities lets a kind under its fair share start 6 more
// while another kind fills the 12 (by default half the limit);
// WithHeadroom(0) keeps every counted task within the 12.
func ExampleWithHeadroom() {
	for _, opts := range [][]workers.BudgetOption{nil, {workers.WithHeadroom(0)}} {
		budget, err := workers.NewBudget(12, opts...)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(budget.Limit(), budget.Headroom())
	}
	// Output:
	// 12 6
	// 12 0
}
