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

func ExampleTable_PollQueues() {
	table, err := routing.NewTable(routing.Config{Prefix: "saas", Shards: 3, Pins: map[string]string{"acme": "acme"}})
	if err != nil {
		panic(err)
	}
	tenant, _ := table.PollQueues(routing.Tenant)
	jobs, _ := table.PollQueues(routing.Jobs)
	fmt.Println(tenant)
	fmt.Println(jobs)
	// Output:
	// [saas.tenant.00 saas.tenant.01 saas.tenant.02 saas.tenant.overflow-00 saas.tenant.pinned-acme]
	// [saas.jobs.00]
}

func ExampleParseTaskQueue() {
	for _, q := range []string{"saas.tenant.07", "saas.tenant.overflow-00", "saas.tenant.pinned-acme", "main-queue"} {
		d, ok := routing.ParseTaskQueue("saas", q)
		fmt.Printf("%s: %v %+v\n", q, ok, d)
	}
	// Output:
	// saas.tenant.07: true {Kind:tenant Role:shard Index:7 Label:}
	// saas.tenant.overflow-00: true {Kind:tenant Role:overflow Index:0 Label:}
	// saas.tenant.pinned-acme: true {Kind:tenant Role:pinned Index:0 Label:acme}
	// main-queue: false {Kind: Role:unknown Index:0 Label:}
}
