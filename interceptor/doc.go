// Package interceptor routes Temporal workflow starts to per-tenant shard
// task queues and tags them with Temporal's fairness priority.
//
// [New] returns an [*Interceptor] that plugs into client.Options.Interceptors;
// call sites keep naming their legacy queue ("main-queue") and are routed
// transparently:
//
//	import (
//		"go.temporal.io/sdk/client"
//		sdkinterceptor "go.temporal.io/sdk/interceptor"
//
//		"github.com/tqrouter/tqrouter/interceptor"
//		"github.com/tqrouter/tqrouter/registry"
//		"github.com/tqrouter/tqrouter/routing"
//	)
//
//	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32})
//	...
//	c, err := client.Dial(client.Options{
//		Interceptors: []sdkinterceptor.ClientInterceptor{router},
//	})
//	...
//	ctx = interceptor.WithTenant(ctx, "acme")
//	c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "main-queue"}, "UserOnboardingWorkflow")
//	// runs on "saas.tenant.13" with Priority{FairnessKey: "acme"}
//
// The package shares its name with go.temporal.io/sdk/interceptor; import
// one of them under another name.
//
// # What is routed
//
// A start is routed when its workflow type is in the [registry.Registry] and
// its task queue is a legacy queue (see [WithLegacyQueues]). A start on any
// other queue was routed on purpose and is left alone, and so is a type that
// is not registered (see [WithRefuseUnregistered]). Tenant-scoped kinds go to
// the tenant's shard with the tenant's fairness key; [routing.Jobs] goes to
// shard 00 with no fairness key.
//
// Every client start path is covered: ExecuteWorkflow,
// SignalWithStartWorkflow, CreateSchedule with a workflow action,
// update-with-start, whose operation must be made with
// [Interceptor.NewWithStartWorkflowOperation] because the SDK hides its
// options from interceptors, and standalone activities (ExecuteActivity),
// routed by the kind their activity type has in the registry
// ([registry.Registry.RegisterActivity]). A start that cannot be routed is refused with a
// [*RouteError] before anything reaches the server.
//
// # Workers
//
// The Interceptor is also a worker interceptor, and the SDK applies a
// client's interceptors to the workers made from that client. On workers it
// routes child workflows and continue-as-new started on a legacy queue for
// the workflow's tenant, moves activities that name a legacy queue to the
// workflow's own (routed) queue, and gives activities the tenant in their context
// ([TenantFromContext]) and workflow code through [WorkflowTenant]. The
// tenant travels as the workflow's fairness key (and in the memo when the ID
// is too long to be one), which the server records in history: replays see
// the same tenant.
//
// Priority and fairness are experimental features of the Temporal server:
// fairness needs matching.enableFairness on the server.
package interceptor
