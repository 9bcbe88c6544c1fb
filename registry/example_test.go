package registry_test

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

func ReportWorkflow(workflow.Context) error { return nil }

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
