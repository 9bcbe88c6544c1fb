// Package interceptor routes Temporal workflow starts to per-tenant task
// queues and tags them with Temporal's fairness priority.
//
// [New] returns a [*Router] that plugs into client.Options.Interceptors;
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
// other queue keeps its queue, and so does a type that is not registered
// (see [WithRefuseUnregistered]). Tenant-scoped kinds go to the tenant's
// shard (or pinned) queue with the tenant's fairness key;
// [routing.Jobs] goes to shard 00 with no fairness key. Where each start can
// go, and which queues workers must poll, is the [routing] package's answer.
//
// # Tenants
//
// A start's tenant comes from its context ([WithTenant]), the
// [TenantFunc] and the memo field (see [WithMemoKey]); on workers, a
// workflow's tenant comes from the router's header, its memo field and its
// fairness key. Every source that is present must name the same valid
// tenant, whatever queue the start names: sources that disagree are
// refused with [ErrTenantMismatch], and an empty or malformed value with
// [ErrInvalidTenant] (it never counts as "no tenant"). A start that names a
// routed queue of a tenant-scoped kind itself keeps its queue but carries
// its tenant's fairness key, never the caller's. The rule, every start
// path and every refusal are in docs/tenants.md.
//
// Every client start path is covered: ExecuteWorkflow,
// SignalWithStartWorkflow, CreateSchedule with a workflow action,
// update-with-start, whose operation must be made with
// [Router.NewWithStartWorkflowOperation] because the SDK hides its options
// from interceptors, and standalone activities (ExecuteActivity), routed by
// the kind their activity type has in the registry
// ([registry.Registry.RegisterActivity]). A start that cannot be routed is
// refused with a [*RouteError] before anything reaches the server.
//
// # Hot tenants
//
// A tenant whose starts flood its shard is isolated: once it is hot (see
// [HotTenants]) its new starts go to an overflow queue of their kind,
// polled by the same workers, so that the other tenants of its shard are
// not queued behind its flood. It is on by default ([WithoutHotTenants]
// turns it off). Each client process counts the starts it sees; attached to
// its client ([Router.AttachClient]), it also asks the server how
// backlogged a suspected tenant's shard is, so that a flood spread over
// many client processes is isolated about as soon as one through a single
// process (docs/fleet.md). Starts made by workflow code never consult the
// counts, so replays decide the same.
//
// # Workers
//
// The Router is also a worker interceptor, and the SDK applies a client's
// interceptors to the workers made from that client. On workers it routes
// child workflows and continue-as-new started on a legacy queue for the
// workflow's tenant, moves activities that name a legacy queue to the
// workflow's own (routed) queue, and gives activities the tenant in their
// context ([TenantFromContext]) and workflow code through
// [WorkflowTenant].
//
// The tenant travels in the router's header ("tqrouter-tenant"), written at
// every start it routes and recorded in history, so replays read the same;
// workflows started before the header existed are read from their memo
// field or fairness key. A header is input like any other: a worker checks
// it against the workflow's memo and fairness key, which are fields of the
// start request that no ContextPropagator can write, so a propagator that
// writes "tqrouter-tenant" cannot move a workflow to another tenant (do not
// write that header). The header is plain JSON, as the fairness key is,
// unless [WithDataConverter] gives the converter (and codec) to encode it
// with. A workflow whose tenant cannot be read (its sources disagree, one
// is invalid, or it runs on a routed queue of a tenant-scoped kind with
// none) refuses its starts with [ErrMissingTenant] and the cause, rather
// than leave them on the legacy queue or give them another tenant.
//
// # Observability
//
// Every decision is a span named "RouteWorkflow:<type>" (or
// "RouteActivity:<type>") with the tqrouter.* attributes, and is counted
// in the metric [MetricDecisions]; hot tenants are counted in
// [MetricIsolations] and [MetricHotTenants] and logged (see [WithLogger]).
// No metric attribute is a tenant ID; spans and logs carry a pseudonym of
// the tenant (see [WithTenantHashKey], [WithTenantInTraces]). Worker-side
// spans join the trace of the start that routed the workflow.
//
// Priority and fairness are experimental features of the Temporal server:
// fairness needs matching.enableFairness on the server, and orders tasks
// only within one task queue partition (see docs/rollout.md, Partitions).
package interceptor
