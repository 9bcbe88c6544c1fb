// Command basic shows the one-line adoption of tqrouter: the router goes
// into client.Options.Interceptors, the call site keeps naming main-queue,
// and the server records the tenant's shard queue and fairness key.
//
//	go run ./examples/basic [--verbose]
//
// The SDK's own log lines (a "Started Worker" per queue, ...) are off unless
// --verbose, so that the output is the example's.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"

	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
	"github.com/tqrouter/tqrouter/workers"
)

func main() {
	log.SetFlags(0)
	verbose := flag.Bool("verbose", false, "show the SDK's log lines (on stderr)")
	flag.Parse()
	if err := run(context.Background(), *verbose); err != nil {
		log.Fatal("basic: ", err)
	}
}

func run(ctx context.Context, verbose bool) error {
	srv, err := devserver.Start(ctx, devserver.Options{Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer srv.Close()

	router, err := interceptor.New(registry.Default(), routing.Config{Prefix: "saas", Shards: 32})
	if err != nil {
		return err
	}
	opts := srv.ClientOptions()
	opts.Interceptors = []sdkinterceptor.ClientInterceptor{router} // the one line
	opts.Logger = sdkLogger(verbose)
	c, err := client.Dial(opts)
	if err != nil {
		return err
	}
	defer c.Close()

	// Workers poll every queue the router may send starts to (tenant shards,
	// the overflow queue for hot tenants, the jobs queue), sharing one
	// budget of 20 activities at once across all of them.
	tenantQueues, _ := router.Table().PollQueues(routing.Tenant)
	jobQueues, _ := router.Table().PollQueues(routing.Jobs)
	budget, err := workers.NewBudget(20)
	if err != nil {
		return err
	}
	group, err := workers.New(c, append(tenantQueues, jobQueues...), worker.Options{}, saasapp.Register,
		workers.WithBudget(budget), workers.WithKindClasses(router.Table())) // each kind shares the budget as one
	if err != nil {
		return err
	}
	if err := group.Start(); err != nil {
		return err
	}
	defer group.Stop()

	for _, start := range []struct {
		tenant string
		fn     any
	}{
		{"acme", saasapp.UserOnboardingWorkflow},
		{"globex", saasapp.TenantProvisioningWorkflow},
		{"", saasapp.TokenCleanupWorkflow},
	} {
		ctx := ctx
		if start.tenant != "" {
			ctx = interceptor.WithTenant(ctx, start.tenant)
		}
		// An unchanged call site: it names main-queue.
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "main-queue"}, start.fn, saasapp.Input{})
		if err != nil {
			return err
		}
		if err := run.Get(ctx, nil); err != nil {
			return err
		}
		desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			return err
		}
		prio := desc.GetWorkflowExecutionInfo().GetPriority()
		fmt.Printf("%-27s tenant %-7q -> server recorded queue %-15s fairness key %q\n",
			desc.GetWorkflowExecutionInfo().GetType().GetName(), start.tenant,
			desc.GetExecutionConfig().GetTaskQueue().GetName(), prio.GetFairnessKey())
	}

	// A start without a tenant is refused before it reaches the server.
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "main-queue"}, saasapp.UserOnboardingWorkflow, saasapp.Input{})
	fmt.Println("no tenant:", err)
	return nil
}

// sdkLogger discards the SDK's log lines unless verbose.
func sdkLogger(verbose bool) sdklog.Logger {
	if verbose {
		return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	}
	return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}
