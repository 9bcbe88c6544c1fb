// Command noisyneighbor shows the noisy-neighbour problem on one task queue
// and its fix with tqrouter, on a real Temporal server.
//
// One tenant floods TenantProvisioningWorkflow; quiet tenants start
// UserOnboardingWorkflow; TokenCleanupWorkflow runs as the system job. Every
// call site names main-queue. The scenario runs twice with the same worker
// budget: without the router, everything waits behind the flood; with it,
// starts go to per-tenant shard queues with fairness keys, and the quiet
// tenants and the cleanup job stop waiting.
//
//	go run ./examples/noisyneighbor [--json results.json]
//
// It starts the embedded Temporal dev server (built on first use), or uses
// --address / $TEMPORAL_ADDRESS; an existing server needs
// matching.enableFairness=true and one task queue partition for the
// fairness part of the comparison.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/internal/scenario"
)

func main() {
	log.SetFlags(0)
	cfg := scenario.Default()
	address := flag.String("address", "", "Temporal frontend host:port (default: $TEMPORAL_ADDRESS, else an embedded dev server)")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	flag.IntVar(&cfg.NoisyStarts, "noisy", cfg.NoisyStarts, "workflows the noisy tenant floods")
	flag.IntVar(&cfg.QuietTenants, "quiet-tenants", cfg.QuietTenants, "quiet tenants")
	flag.IntVar(&cfg.QuietStarts, "quiet-starts", cfg.QuietStarts, "onboardings per quiet tenant")
	flag.IntVar(&cfg.JobStarts, "jobs", cfg.JobStarts, "cleanup jobs")
	flag.DurationVar(&cfg.Work, "work", cfg.Work, "work per workflow")
	flag.IntVar(&cfg.Slots, "slots", cfg.Slots, "worker budget: concurrent activities across all workers")
	flag.IntVar(&cfg.Shards, "shards", cfg.Shards, "tenant shards of the routed run")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *address, *jsonOut, cfg); err != nil {
		log.Fatal("noisyneighbor: ", err)
	}
}

func run(ctx context.Context, out io.Writer, address, jsonOut string, cfg scenario.Config) error {
	srv, err := devserver.Start(ctx, devserver.Options{Address: address, Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "Temporal at %s, namespace %s\n", srv.Address(), srv.Namespace())
	fmt.Fprintf(out, "Scenario: noisy tenant floods %d TenantProvisioningWorkflow; %d quiet tenants x %d UserOnboardingWorkflow; %d TokenCleanupWorkflow;\n",
		cfg.NoisyStarts, cfg.QuietTenants, cfg.QuietStarts, cfg.JobStarts)
	fmt.Fprintf(out, "          %s of work each, %d worker slots in all, every call site naming main-queue.\n\n", cfg.Work, cfg.Slots)

	env := scenario.Env{ClientOptions: srv.ClientOptions(), Progress: out}
	prefix := fmt.Sprintf("demo%d", time.Now().Unix()%100000)
	fmt.Fprintln(out, "1/2 without tqrouter: one queue, main-queue")
	baseline, err := scenario.Run(ctx, env, cfg, false, prefix)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "2/2 with tqrouter: %d tenant shards + jobs queue, fairness key per tenant\n", cfg.Shards)
	routed, err := scenario.Run(ctx, env, cfg, true, prefix)
	if err != nil {
		return err
	}
	report(out, baseline, routed)
	if jsonOut != "" {
		raw, err := json.MarshalIndent(map[string]scenario.Result{"baseline": baseline, "routed": routed}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonOut, append(raw, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nwrote %s\n", jsonOut)
	}
	return nil
}

func report(out io.Writer, baseline, routed scenario.Result) {
	fmt.Fprintln(out, "\nWait from workflow start until a worker begins its work (schedule-to-start, server timestamps), ms:")
	fmt.Fprintf(out, "%-7s %-27s | %8s %8s %8s | %8s %8s %8s | %s\n", "class", "workflow", "base p50", "p95", "max", "tqr p50", "p95", "max", "p95 better")
	types := map[string]string{scenario.Noisy: "TenantProvisioningWorkflow", scenario.Quiet: "UserOnboardingWorkflow", scenario.Jobs: "TokenCleanupWorkflow"}
	for _, class := range []string{scenario.Quiet, scenario.Jobs, scenario.Noisy} {
		b, r := baseline[class], routed[class]
		fmt.Fprintf(out, "%-7s %-27s | %8.0f %8.0f %8.0f | %8.0f %8.0f %8.0f | %s\n", class, types[class], b.P50, b.P95, b.Max, r.P50, r.P95, r.Max, factor(b.P95, r.P95))
	}
	fmt.Fprintln(out, "\nStart-to-close as the caller sees it, ms:")
	fmt.Fprintf(out, "%-7s | %8s %8s | %8s %8s\n", "class", "base p50", "p95", "tqr p50", "p95")
	for _, class := range []string{scenario.Quiet, scenario.Jobs, scenario.Noisy} {
		b, r := baseline[class], routed[class]
		fmt.Fprintf(out, "%-7s | %8.0f %8.0f | %8.0f %8.0f\n", class, b.CloseP50, b.CloseP95, r.CloseP50, r.CloseP95)
	}
	fmt.Fprintln(out, "\nThe noisy tenant now waits for its own share of its shard instead of everyone's slots.")
}

// factor is how many times shorter the routed wait is.
func factor(base, routed float64) string {
	if routed < 1 {
		routed = 1 // below a millisecond, call it one
	}
	return fmt.Sprintf("%.1fx", base/routed)
}
