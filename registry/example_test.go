package registry_test

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

func ReportWorkflow(workflow.Context) error { return nil }

func SendInvoice(context.Context, string) error { return nil }

func ExampleRegistry() {
	reg := registry.Default()
	// Add a workflow type of your own, by function or by name.
	if err := reg.RegisterWorkflow(ReportWorkflow, routing.Jobs); err != nil {
		panic(err)
	}
	kind, ok := reg.Lookup("ReportWorkflow")
	fmt.Println(kind, ok)
	fmt.Println(reg.Types(routing.Jobs))
	// Output:
	// jobs true
	// [ReportWorkflow TokenCleanupWorkflow]
}

func ExampleRegistry_RegisterActivity() {
	reg := registry.Default()
	// A standalone activity (client.ExecuteActivity) on main-queue is routed
	// by its activity type's kind, like a workflow start.
	if err := reg.RegisterActivity(SendInvoice, routing.Tenant); err != nil {
		panic(err)
	}
	fmt.Println(reg.LookupActivity("SendInvoice"))
	fmt.Println(reg.Lookup("SendInvoice")) // not a workflow type
	// Output:
	// tenant true
	//  false
}
