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
//	go run ./examples/noisyneighbor [--seed N] [--routed-partitions 1] [--clients K] [--worker-procs W] [--hot-tenants=false] [--json results.json] [--keep]
//
// The tenant IDs are drawn from --seed, so some quiet tenants share the
// noisy tenant's shard by chance; they are reported as their own class,
// shard_mates, in both runs.
//
// --clients K and --worker-procs W give a run the shape of a production
// deployment: K API processes, each with its own client and router, take
// the starts in turn, and W worker processes, each with its own client,
// router and share of the budget, poll every queue. The routed run wires
// each process as README tells users to: the router in
// client.Options.Interceptors of the client the workers are built from.
//
// Before the runs it prints the routed run's queue prefix and queues; after
// them, the tqrouter doctor and status commands for that server and
// routing, and with --keep the Web UI's workflow lists filtered to the
// noisy tenant's shard queue and to the overflow queue.
//
// It starts the embedded Temporal dev server (built on first use) with
// Temporal's default of 4 partitions per task queue and fairness on, or uses
// the server the Temporal CLI would reach (--address, --profile, TEMPORAL_*,
// as tqrouter does); an existing server needs
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
	"net/url"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/connect"
	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/internal/ops"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/internal/scenario"
	"github.com/tqrouter/tqrouter/routing"
	"github.com/tqrouter/tqrouter/workers"
)

type options struct {
	jsonOut       string
	conn          connect.Flags
	keep, verbose bool
	dynamicConfig map[string]any
	// routedPartitions, if set, is the partition count of the routed run's
	// queues, set per queue by dynamic config; other queues (main-queue)
	// keep the server's.
	routedPartitions int
}

func main() {
	log.SetFlags(0)
	cfg := scenario.Default()
	o := options{dynamicConfig: map[string]any{}}
	o.conn.Register(flag.CommandLine)
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
	flag.IntVar(&cfg.Slots, "slots", cfg.Slots, "worker budget: activities the run's workers may run at once, in all, divided among --worker-procs")
	flag.IntVar(&cfg.Headroom, "headroom", cfg.Headroom, "routed budget's headroom: activities past the budget a kind under its fair share may start, in all, divided among --worker-procs (-1: the budget's default, half of --slots)")
	flag.IntVar(&cfg.Shards, "shards", cfg.Shards, "tenant shards of the routed run")
	flag.IntVar(&cfg.Clients, "clients", cfg.Clients, "API processes: independent clients (each with its own router in the routed run) that take the starts in turn")
	flag.IntVar(&cfg.WorkerProcs, "worker-procs", cfg.WorkerProcs, "worker processes: each with its own client (and router) and its share of --slots and --headroom, the first ones taking the remainder")
	hot := flag.Bool("hot-tenants", true, "isolate hot tenants on the overflow queue in the routed run; false leaves fairness alone to order a shard's tenants (interceptor.WithoutHotTenants)")
	flag.Parse()
	cfg.WithoutHotTenants = !*hot

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
	// The server the Temporal CLI would reach (flags, TEMPORAL_* and the
	// profile), or else an embedded one.
	existing, named, err := o.conn.ExistingServer(nil)
	if err != nil {
		return err
	}
	sopts := devserver.Options{Progress: os.Stderr, DynamicConfig: o.dynamicConfig, UI: o.keep}
	if named {
		sopts.Address, sopts.Namespace = existing.HostPort, existing.Namespace
	}
	if o.verbose {
		sopts.LogLevel, sopts.Output = "warn", os.Stderr
	}
	embedded := sopts.Address == "" && os.Getenv(devserver.AddressEnv) == ""
	if o.routedPartitions > 0 {
		file, err := partitionsFile(prefix, cfg.Shards, o.routedPartitions)
		if err != nil {
			return err
		}
		defer os.Remove(file)
		sopts.DynamicConfigFile = file
	}
	if embedded {
		fmt.Fprintln(out, "Starting the embedded Temporal dev server (the first run builds it; see internal/devserver)...")
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
	case o.routedPartitions > 0 && embedded:
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
	fmt.Fprintf(out, "          %s of work each, a budget of %d activities at once, every call site naming main-queue.\n", cfg.Work, cfg.Slots)
	fmt.Fprintf(out, "Processes: %d API client(s) take the starts in turn; %d worker process(es) share the budget, slots %v.\n",
		max(cfg.Clients, 1), max(cfg.WorkerProcs, 1), scenario.Shares(cfg.Slots, cfg.WorkerProcs))
	queues, err := layout(prefix, cfg.Shards)
	if err != nil {
		return err
	}
	noisyQueue := routing.TaskQueueName(prefix, routing.Tenant, routing.StableShard(cast.Noisy, cfg.Shards))
	isolation := "on: a hot tenant's new starts go to the overflow queue"
	if cfg.WithoutHotTenants {
		isolation = "off (--hot-tenants=false): fairness alone orders a shard's tenants"
	}
	fmt.Fprintf(out, "Routed run's queues: prefix %s (new each run), %d tenant shards; hot-tenant isolation %s:\n", prefix, cfg.Shards, isolation)
	for _, q := range queues {
		note := ""
		if q.Name == noisyQueue {
			note = "  the noisy tenant's shard"
		}
		fmt.Fprintf(out, "  %-28s %-6s %s%s\n", q.Name, q.Kind, q.Role, note)
	}
	fmt.Fprintln(out)

	copts := srv.ClientOptions()
	if named {
		copts = existing // the profile's TLS, API key and gRPC metadata too
	}
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
		// Workers poll the routed queues while the server is held, as a
		// deployment's would: doctor then checks a live layout, and
		// workflows started from the Web UI or the temporal CLI run.
		stopWorkers, err := holdWorkers(copts, cfg, prefix, queues)
		if err != nil {
			return err
		}
		defer stopWorkers()
	}
	up := "while the server is up"
	if embedded && !o.keep {
		up = "against a server kept up with --keep"
	}
	fmt.Fprintf(out, "\nInspect the routed run's queues %s (for scripts, go install ./cmd/tqrouter and run tqrouter: go run reports every failure as exit status 1):\n", up)
	for _, line := range inspectCommands(srv.Address(), srv.Namespace(), prefix, cfg.Shards) {
		fmt.Fprintf(out, "  go run ./cmd/tqrouter %s\n", strings.Join(line, " "))
	}
	if o.keep {
		fmt.Fprintln(out, "A worker process keeps polling the routed queues until Ctrl-C. doctor exits 1 if it finds something: on Temporal's default of 4 partitions per queue, partitions (--routed-partitions 1 avoids them).")
	} else {
		fmt.Fprintln(out, "doctor exits 1 if it finds something: no-pollers once the run's workers have stopped; on Temporal's default of 4 partitions per queue, partitions (--routed-partitions 1 avoids them).")
	}
	if o.keep {
		fmt.Fprintf(out, "\nThe server stays up until Ctrl-C: workflows are in namespace %s at %s (prefix %s).\n", srv.Namespace(), srv.Address(), prefix)
		if ui := srv.UIAddress(); ui != "" {
			links := uiLinks(ui, srv.Namespace(), noisyQueue, routing.OverflowQueueName(prefix, routing.Tenant, 0))
			fmt.Fprintf(out, "Web UI (a workflow's page shows its task queue and fairness key):\n")
			fmt.Fprintf(out, "  all workflows:                  %s\n", links[0])
			fmt.Fprintf(out, "  the noisy tenant's shard queue: %s\n", links[1])
			overflow := ""
			if cfg.WithoutHotTenants {
				overflow = " (empty: hot-tenant isolation was off)"
			}
			fmt.Fprintf(out, "  the overflow queue:             %s%s\n", links[2], overflow)
		}
		<-ctx.Done()
	}
	return nil
}

// holdWorkers starts one worker process of the routed run, idle after it,
// polling the routed queues, and returns the function that stops it.
func holdWorkers(copts client.Options, cfg scenario.Config, prefix string, queues []ops.Queue) (func(), error) {
	c, err := scenario.DialRouted(copts, cfg, prefix)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(queues))
	for i, q := range queues {
		names[i] = q.Name
	}
	g, err := workers.New(c, names, worker.Options{}, saasapp.Register)
	if err == nil {
		err = g.Start()
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return func() { g.Stop(); c.Close() }, nil
}

// layout returns the queues of the routed run, as tqrouter queues lists
// them.
func layout(prefix string, shards int) ([]ops.Queue, error) {
	table, err := routing.NewTable(scenario.RoutingConfig(prefix, shards))
	if err != nil {
		return nil, err
	}
	return ops.Queues(table, scenario.Kinds())
}

// inspectCommands returns the arguments of the tqrouter doctor and status
// commands that describe the routed run on the server at address: the
// routing's prefix, shards, overflow and kinds, and for status the legacy
// queue the baseline ran on.
func inspectCommands(address, namespace, prefix string, shards int) [][]string {
	cfg := scenario.RoutingConfig(prefix, shards)
	common := []string{"--address", address, "--namespace", shellQuote(namespace), "--prefix", cfg.Prefix, "--shards", fmt.Sprint(cfg.Shards), "--overflow", fmt.Sprint(cfg.Overflow)}
	for _, k := range scenario.Kinds() {
		common = append(common, "--kind", string(k))
	}
	return [][]string{
		append([]string{"doctor"}, common...),
		append(append([]string{"status"}, common...), "--legacy", interceptor.DefaultLegacyQueue),
	}
}

// uiLinks returns the Web UI's workflow list of namespace, and that list
// filtered to each of queues: a visibility query on TaskQueue in the
// list's query parameter.
func uiLinks(uiAddress, namespace string, queues ...string) []string {
	list := "http://" + uiAddress + "/namespaces/" + url.PathEscape(namespace) + "/workflows"
	links := []string{list}
	for _, q := range queues {
		links = append(links, list+"?query="+url.QueryEscape(fmt.Sprintf("TaskQueue=%q", q)))
	}
	return links
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func report(out io.Writer, baseline, routed scenario.Result) {
	fmt.Fprintln(out, "\nWait from workflow start until a worker begins its work (server timestamps), ms:")
	fmt.Fprintf(out, "%-11s %-26s %4s | %8s %7s %7s | %8s %7s %7s | %s\n", "class", "workflow", "n", "base p50", "p95", "max", "tqr p50", "p95", "max", "p95 factor")
	types := map[string]string{scenario.Noisy: "TenantProvisioningWorkflow", scenario.Quiet: "UserOnboardingWorkflow", scenario.ShardMates: "UserOnboardingWorkflow", scenario.Jobs: "TokenCleanupWorkflow"}
	for _, class := range scenario.Classes() {
		b, r := baseline.Class(class), routed.Class(class)
		fmt.Fprintf(out, "%-11s %-26s %4d | %8.0f %7.0f %7.0f | %8.0f %7.0f %7.0f | %s\n", class, types[class], r.Count, b.P50, b.P95, b.Max, r.P50, r.P95, r.Max, factor(b, r))
	}
	fmt.Fprintln(out, "\nOf that wait, the activity's own schedule-to-start; and start-to-close (the caller's start to the workflow's finish), p95, ms:")
	fmt.Fprintf(out, "%-11s | %8s %8s | %8s %8s\n", "class", "base act", "tqr act", "base s2c", "tqr s2c")
	for _, class := range scenario.Classes() {
		b, r := baseline.Class(class), routed.Class(class)
		fmt.Fprintf(out, "%-11s | %8.0f %8.0f | %8.0f %8.0f\n", class, b.ActivityP95, r.ActivityP95, b.CloseP95, r.CloseP95)
	}
	bm, rm := baseline.Noisy.Makespan, routed.Noisy.Makespan
	if bm > 0 && rm > 0 {
		fmt.Fprintf(out, "\nNoisy tenant's makespan (its first start to its last workflow's finish): baseline %.1f s, routed %.1f s: routed/baseline %.2f\n", bm/1000, rm/1000, rm/bm)
	}
	fmt.Fprintf(out, "Budget (activities the workers may run at once): baseline %d on %d queue, routed %d on %d queues (a kind under its fair share may start %d more).\n",
		baseline.Run.Budget, baseline.Run.Queues, routed.Run.Budget, routed.Run.Queues, routed.Run.Headroom)
	fmt.Fprintf(out, "Peak running (counted by the activities, in all worker processes): baseline %d, routed %d.\n", baseline.Run.PeakRunning, routed.Run.PeakRunning)
	fmt.Fprintf(out, "Processes: %d API client(s), %d worker process(es).\n", routed.Run.Clients, routed.Run.WorkerProcs)
	if n := baseline.Run.LateResults + routed.Run.LateResults; n > 0 {
		fmt.Fprintf(out, "Late results: %d baseline, %d routed reached their caller over 2 s after the workflow finished (the server's result long poll; not counted in the figures above, see docs/demo.md).\n",
			baseline.Run.LateResults, routed.Run.LateResults)
	}
	var seen []string
	for _, class := range []string{scenario.Quiet, scenario.ShardMates, scenario.Noisy} {
		seen = append(seen, class+" "+fraction(routed.Class(class).TenantSeen))
	}
	fmt.Fprintf(out, "Activities that read their own tenant (interceptor.TenantFromContext), routed: %s (the baseline has no router to pass it on).\n", strings.Join(seen, ", "))
}

// fraction prints a fraction of samples, or n/a without samples.
func fraction(f *float64) string {
	if f == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", *f)
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
	queues, err := layout(prefix, shards)
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
