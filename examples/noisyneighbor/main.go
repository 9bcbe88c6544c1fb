// Command noisyneighbor shows the noisy-neighbour problem on one task queue
// and its fix with tqrouter, on a real Temporal server.
//
// One tenant floods TenantProvisioningWorkflow; quiet tenants start
// UserOnboardingWorkflow; TokenCleanupWorkflow runs as the system job. Every
// call site names main-queue. The scenario runs twice with the same worker
// budget: without the router, everything waits behind the flood; with it,
// starts go to per-tenant shard queues with fairness keys, the flooding
// tenant's new starts go to an overflow queue once it is hot, and the
// workers share one budget of activities.
//
//	go run ./examples/noisyneighbor [--seed N] [--routed-partitions 1] [--json results.json] [--keep]
//
// The tenant IDs are drawn from --seed, so some quiet tenants share the
// noisy tenant's shard by chance; they are reported as their own class,
// shard_mates, in both runs.
//
// It starts the embedded Temporal dev server (built on first use) with
// Temporal's default of 4 partitions per task queue and fairness on, or uses
// --address / $TEMPORAL_ADDRESS; an existing server needs
// matching.enableFairness=true for the fairness part of the comparison, and
// one partition per routed queue (--routed-partitions 1 sets that on the
// embedded server; tqrouter queues --dynamic-config prints it for yours) for
// fairness to order tenants within a queue.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	sdklog "go.temporal.io/sdk/log"

	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/internal/ops"
	"github.com/tqrouter/tqrouter/internal/scenario"
	"github.com/tqrouter/tqrouter/routing"
)

type options struct {
	address, jsonOut string
	keep, verbose    bool
	dynamicConfig    map[string]any
	// routedPartitions, if set, is the partition count of the routed run's
	// queues, set per queue by dynamic config; other queues (main-queue)
	// keep the server's.
	routedPartitions int
}

func main() {
	log.SetFlags(0)
	cfg := scenario.Default()
	o := options{dynamicConfig: map[string]any{}}
	flag.StringVar(&o.address, "address", "", "Temporal frontend host:port (default: $TEMPORAL_ADDRESS, else an embedded dev server)")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the embedded server up after the run, until Ctrl-C, to inspect it")
	flag.BoolVar(&o.verbose, "verbose", false, "show the SDK's log lines (on stderr)")
	flag.Func("dynamic-config", "K=V: a dynamic config value for the embedded server, over internal/devserver's defaults (repeatable; V is parsed as JSON, else taken as a string)", func(kv string) error {
		return scenario.ParseDynamicConfig(kv, o.dynamicConfig)
	})
	flag.IntVar(&o.routedPartitions, "routed-partitions", 0, "give the routed queues this many task queue partitions (dynamic config per queue; 1 is what README recommends), leaving main-queue at the server's (Temporal's default: 4); 0 leaves every queue at the server's")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed the tenant IDs are drawn from")
	flag.IntVar(&cfg.NoisyStarts, "noisy", cfg.NoisyStarts, "workflows the noisy tenant floods")
	flag.IntVar(&cfg.QuietTenants, "quiet-tenants", cfg.QuietTenants, "quiet tenants")
	flag.IntVar(&cfg.QuietStarts, "quiet-starts", cfg.QuietStarts, "onboardings per quiet tenant")
	flag.IntVar(&cfg.JobStarts, "jobs", cfg.JobStarts, "cleanup jobs")
	flag.DurationVar(&cfg.Work, "work", cfg.Work, "work per workflow")
	flag.IntVar(&cfg.Slots, "slots", cfg.Slots, "worker budget: activities the run's workers may run at once, in all")
	flag.IntVar(&cfg.Headroom, "headroom", cfg.Headroom, "routed budget's headroom: activities past the budget a kind under its fair share may start (-1: the budget's default, a third of the budget)")
	flag.IntVar(&cfg.Shards, "shards", cfg.Shards, "tenant shards of the routed run")
	flag.Parse()

	// Ctrl-C, SIGTERM, or the end of the process that ran it (a killed
	// `go run` passes nothing on) stop the run and --keep's server.
	ctx, stop := devserver.NotifyContext(context.Background())
	defer stop()
	if err := run(ctx, os.Stdout, o, cfg); err != nil {
		log.Fatal("noisyneighbor: ", err)
	}
}

func run(ctx context.Context, out io.Writer, o options, cfg scenario.Config) error {
	prefix := fmt.Sprintf("demo%d", time.Now().Unix()%100000)
	sopts := devserver.Options{Address: o.address, Progress: os.Stderr, DynamicConfig: o.dynamicConfig, UI: o.keep}
	if o.verbose {
		sopts.LogLevel, sopts.Output = "warn", os.Stderr
	}
	if o.routedPartitions > 0 {
		file, err := partitionsFile(prefix, cfg.Shards, o.routedPartitions)
		if err != nil {
			return err
		}
		defer os.Remove(file)
		sopts.DynamicConfigFile = file
	}
	srv, err := devserver.Start(ctx, sopts)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "Temporal at %s, namespace %s", srv.Address(), srv.Namespace())
	if len(o.dynamicConfig) > 0 {
		fmt.Fprintf(out, ", dynamic config over the defaults: %v", o.dynamicConfig)
	}
	switch {
	case o.routedPartitions > 0 && sopts.Address == "" && os.Getenv(devserver.AddressEnv) == "":
		fmt.Fprintf(out, ", %d partition(s) on each routed queue", o.routedPartitions)
	case o.routedPartitions > 0:
		fmt.Fprintf(out, "; --routed-partitions applies to the embedded server only: give your server the output of\n  go run ./cmd/tqrouter queues --dynamic-config --prefix %s --shards %d", prefix, cfg.Shards)
	}
	fmt.Fprintln(out)
	cast := scenario.NewCast(cfg.Seed, cfg.QuietTenants)
	mates := cast.ShardMates(cfg.Shards)
	fmt.Fprintf(out, "Seed %d: noisy tenant %s (shard %d of %d); %d of %d quiet tenants share its shard: %s\n",
		cfg.Seed, cast.Noisy, routing.StableShard(cast.Noisy, cfg.Shards), cfg.Shards, len(mates), len(cast.Quiet), listOrNone(mates))
	fmt.Fprintf(out, "Scenario: noisy tenant floods %d TenantProvisioningWorkflow; %d quiet tenants x %d UserOnboardingWorkflow; %d TokenCleanupWorkflow;\n",
		cfg.NoisyStarts, cfg.QuietTenants, cfg.QuietStarts, cfg.JobStarts)
	fmt.Fprintf(out, "          %s of work each, a budget of %d activities at once, every call site naming main-queue.\n\n", cfg.Work, cfg.Slots)

	copts := srv.ClientOptions()
	copts.Logger = sdkLogger(o.verbose)
	env := scenario.Env{ClientOptions: copts, Progress: out}
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
	if o.jsonOut != "" {
		raw, err := json.MarshalIndent(map[string]scenario.Result{"baseline": baseline, "routed": routed}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonOut, append(raw, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nwrote %s\n", o.jsonOut)
	}
	if o.keep {
		fmt.Fprintf(out, "\nThe server stays up until Ctrl-C: workflows are in namespace %s at %s (prefix %s).\n", srv.Namespace(), srv.Address(), prefix)
		if ui := srv.UIAddress(); ui != "" {
			fmt.Fprintf(out, "Web UI: http://%s/namespaces/%s/workflows (each workflow's page shows its task queue and fairness key)\n", ui, srv.Namespace())
		}
		<-ctx.Done()
	}
	return nil
}

func report(out io.Writer, baseline, routed scenario.Result) {
	fmt.Fprintln(out, "\nWait from workflow start until a worker begins its work (server timestamps), ms:")
	fmt.Fprintf(out, "%-11s %-26s %4s | %8s %7s %7s | %8s %7s %7s | %s\n", "class", "workflow", "n", "base p50", "p95", "max", "tqr p50", "p95", "max", "p95 factor")
	types := map[string]string{scenario.Noisy: "TenantProvisioningWorkflow", scenario.Quiet: "UserOnboardingWorkflow", scenario.ShardMates: "UserOnboardingWorkflow", scenario.Jobs: "TokenCleanupWorkflow"}
	for _, class := range scenario.Classes() {
		b, r := baseline.Class(class), routed.Class(class)
		fmt.Fprintf(out, "%-11s %-26s %4d | %8.0f %7.0f %7.0f | %8.0f %7.0f %7.0f | %s\n", class, types[class], r.Count, b.P50, b.P95, b.Max, r.P50, r.P95, r.Max, factor(b, r))
	}
	fmt.Fprintln(out, "\nOf that wait, the activity's own schedule-to-start; and start-to-close as the caller sees it, p95, ms:")
	fmt.Fprintf(out, "%-11s | %8s %8s | %8s %8s\n", "class", "base act", "tqr act", "base s2c", "tqr s2c")
	for _, class := range scenario.Classes() {
		b, r := baseline.Class(class), routed.Class(class)
		fmt.Fprintf(out, "%-11s | %8.0f %8.0f | %8.0f %8.0f\n", class, b.ActivityP95, r.ActivityP95, b.CloseP95, r.CloseP95)
	}
	bm, rm := baseline.Noisy.Makespan, routed.Noisy.Makespan
	if bm > 0 && rm > 0 {
		fmt.Fprintf(out, "\nNoisy tenant's makespan (first start to last completion): baseline %.1f s, routed %.1f s: routed/baseline %.2f\n", bm/1000, rm/1000, rm/bm)
	}
	fmt.Fprintf(out, "Budget (activities the workers may run at once): baseline %d on %d queue, routed %d on %d queues (a kind under its fair share may start %d more).\n",
		baseline.Run.Budget, baseline.Run.Queues, routed.Run.Budget, routed.Run.Queues, routed.Run.Headroom)
	fmt.Fprintf(out, "Peak running (counted by the activities): baseline %d, routed %d.\n", baseline.Run.PeakRunning, routed.Run.PeakRunning)
}

// factor is how many times shorter the routed p95 wait is.
func factor(base, routed *scenario.Stats) string {
	if base.Count == 0 || routed.Count == 0 {
		return "n/a (no samples)"
	}
	r := max(routed.P95, 1) // below a millisecond, call it one
	return fmt.Sprintf("%.1fx", base.P95/r)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// sdkLogger shows the SDK's log lines only when asked to: the demo's output
// is its own.
func sdkLogger(verbose bool) sdklog.Logger {
	if verbose {
		return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	}
	return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}

// partitionsFile writes a dynamic config file that gives every queue the
// routed run can use (shard, overflow and jobs queues of prefix) n task
// queue partitions, as tqrouter queues --dynamic-config does for an
// operator, and returns its path.
func partitionsFile(prefix string, shards, n int) (string, error) {
	table, err := routing.NewTable(routing.Config{Prefix: prefix, Shards: shards})
	if err != nil {
		return "", err
	}
	queues, err := ops.Queues(table, []routing.QueueKind{routing.Tenant, routing.Jobs})
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "noisyneighbor-*.yaml")
	if err != nil {
		return "", err
	}
	if err := ops.WriteDynamicConfig(f, "", queues, n); err != nil {
		f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}
