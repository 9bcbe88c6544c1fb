package routing_test

import (
	"fmt"

	"github.com/tqrouter/tqrouter/routing"
)

func ExampleStableShard() {
	fmt.Println(routing.StableShard("acme", 1))
	fmt.Println(routing.StableShard("acme", 32))
	// Output:
	// 0
	// 13
}

func ExampleTaskQueueName() {
	fmt.Println(routing.TaskQueueName("saas", routing.Tenant, 7))
	fmt.Println(routing.TaskQueueName("saas", routing.Jobs, 0))
	// Output:
	// saas.tenant.07
	// saas.jobs.00
}

func ExampleTable_TenantRoute() {
	table, err := routing.NewTable(routing.Config{Prefix: "saas", Shards: 32})
	if err != nil {
		panic(err)
	}
	route, err := table.TenantRoute(routing.Tenant, "acme", 2)
	if err != nil {
		panic(err)
	}
	fmt.Println(route.TaskQueue, route.FairnessKey, route.FairnessWeight)
	// Output: saas.tenant.13 acme 2
}

func ExampleTable_Queues() {
	table, err := routing.NewTable(routing.Config{Prefix: "saas", Shards: 3})
	if err != nil {
		panic(err)
	}
	queues, _ := table.Queues(routing.Tenant)
	fmt.Println(queues)
	// Output: [saas.tenant.00 saas.tenant.01 saas.tenant.02]
}
