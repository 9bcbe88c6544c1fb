// Package scenario plays the noisy-neighbour scenario against a Temporal
// server: one tenant floods TenantProvisioningWorkflow, a few quiet tenants
// start UserOnboardingWorkflow, and TokenCleanupWorkflow runs as the system
// job, every call site naming main-queue. It runs once without the router
// (one queue) and once with it (shard queues with fairness), with the same
// budget of worker slots, and measures how long each class waits.
package scenario

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/interceptor"
	"github.com/tqrouter/tqrouter/internal/saasapp"
	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
	"github.com/tqrouter/tqrouter/workers"
)

// Config is one scenario.
type Config struct {
	// NoisyStarts is the size of the noisy tenant's flood.
	NoisyStarts int
	// QuietTenants start QuietStarts onboardings each, spread over the flood.
	QuietTenants, QuietStarts int
	// JobStarts cleanup jobs are spread over the flood.
	JobStarts int
	// Work is how long each workflow's activity works.
	Work time.Duration
	// Slots is the worker budget: concurrent activities across all workers,
	// split evenly over the routed run's queues (Shards tenant queues and
	// one jobs queue), rounding down.
	Slots int
	// Shards is the tenant shard count of the routed run.
	Shards int
	// Spread is how long the quiet tenants and jobs keep starting.
	Spread time.Duration
	// LegacyQueue is the queue every call site names (default main-queue).
	LegacyQueue string
	// AbandonNoisy ends a run as soon as the quiet tenants and jobs are
	// done, terminating the flood's remaining workflows: the noisy stats
	// then cover only the workflows that completed.
	AbandonNoisy bool
}

// Default is the demo's scenario: a flood several seconds deep.
func Default() Config {
	return Config{NoisyStarts: 150, QuietTenants: 4, QuietStarts: 5, JobStarts: 5, Work: 600 * time.Millisecond, Slots: 12, Shards: 3, Spread: 4 * time.Second}
}

// The tenant classes measured.
const (
	Noisy = "noisy"
	Quiet = "quiet"
	Jobs  = "jobs"
)

// Stats summarizes the waits of one class, in milliseconds.
type Stats struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	// Start-to-close of the whole workflow, as the caller sees it.
	CloseP50 float64 `json:"start_to_close_p50_ms"`
	CloseP95 float64 `json:"start_to_close_p95_ms"`
}

// Result holds the stats of each class of one run, keyed by class.
type Result map[string]Stats

// Env is where a scenario runs.
type Env struct {
	// ClientOptions dial the server (HostPort, Namespace).
	ClientOptions client.Options
	// Progress receives a line a second while a run is going; may be nil.
	Progress io.Writer
}

type sample struct {
	class       string
	wait, close time.Duration
}

// Run plays cfg once; with routed it uses the router and shard queues,
// without it one legacy queue, main-queue. prefix keeps the routed queues and
// workflow IDs of separate runs apart.
func Run(ctx context.Context, env Env, cfg Config, routed bool, prefix string) (Result, error) {
	if cfg.Slots < 2 || cfg.Shards < 1 {
		return nil, fmt.Errorf("scenario needs at least 2 slots and 1 shard")
	}
	name := "baseline"
	legacy := cmp.Or(cfg.LegacyQueue, interceptor.DefaultLegacyQueue) // what every call site names
	copts := env.ClientOptions
	if copts.Logger == nil {
		copts.Logger = quietLogger()
	}
	workerOpts := copts
	var queues []string
	slotsPer := cfg.Slots
	if routed {
		name = "routed"
		router, err := interceptor.New(registry.Default(), routing.Config{Prefix: prefix, Shards: cfg.Shards}, interceptor.WithLegacyQueues(legacy))
		if err != nil {
			return nil, err
		}
		copts.Interceptors = []sdkinterceptor.ClientInterceptor{router}
		tenantQueues, _ := workers.Queues(router.Table(), routing.Tenant)
		jobQueues, _ := workers.Queues(router.Table(), routing.Jobs, 0)
		queues = append(tenantQueues, jobQueues...)
		// The same budget, split evenly: each queue gets its share.
		slotsPer = max(1, cfg.Slots/len(queues))
	} else {
		queues = []string{legacy}
	}

	workerClient, err := client.Dial(workerOpts)
	if err != nil {
		return nil, err
	}
	defer workerClient.Close()
	group, err := workers.New(workerClient, queues, worker.Options{MaxConcurrentActivityExecutionSize: slotsPer}, saasapp.Register)
	if err != nil {
		return nil, err
	}
	if err := group.Start(); err != nil {
		return nil, err
	}
	defer group.Stop()

	c, err := client.Dial(copts)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	// Warm every queue with one workflow, as long-lived queues of a real
	// deployment are: the first task of a fresh queue is slower than the
	// rest, and would be counted against whichever run has more queues.
	for _, q := range queues {
		run, err := workerClient.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: prefix + "-warm-" + q, TaskQueue: q}, saasapp.TokenCleanupWorkflow, saasapp.Input{})
		if err != nil {
			return nil, fmt.Errorf("warming %s: %w", q, err)
		}
		if err := run.Get(ctx, nil); err != nil {
			return nil, fmt.Errorf("warming %s: %w", q, err)
		}
	}

	total := cfg.NoisyStarts + cfg.QuietTenants*cfg.QuietStarts + cfg.JobStarts
	var (
		mu      sync.Mutex // protects samples and firstErr
		samples []sample
		firstEr error
		done    atomic.Int64
		wg      sync.WaitGroup // quiet tenants and jobs
		noisyWG sync.WaitGroup // the flood
	)
	noisyCtx, abandon := context.WithCancel(ctx)
	defer abandon()
	fail := func(err error) {
		mu.Lock()
		if firstEr == nil {
			firstEr = err
		}
		mu.Unlock()
	}
	// start starts one workflow, calls started once the server accepted it
	// (or refused it), and waits for its result.
	start := func(ctx context.Context, wg *sync.WaitGroup, class, tenant string, fn any, seq int, started func()) {
		defer wg.Done()
		if tenant != "" {
			ctx = interceptor.WithTenant(ctx, tenant)
		}
		began := time.Now()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:        workflowID(prefix, class, tenant, seq),
			TaskQueue: legacy, // every call site names the legacy queue
		}, fn, saasapp.Input{Work: cfg.Work})
		started()
		if err != nil {
			fail(err)
			return
		}
		var out saasapp.Output
		if err := run.Get(ctx, &out); err != nil {
			if noisyCtx.Err() == nil || class != Noisy {
				fail(err)
			}
			return
		}
		mu.Lock()
		samples = append(samples, sample{class: class, wait: out.Waited, close: time.Since(began)})
		mu.Unlock()
		done.Add(1)
	}

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		began := time.Now()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
				if env.Progress != nil {
					fmt.Fprintf(env.Progress, "  %-8s %4d/%d workflows done (%s)\n", name, done.Load(), total, time.Since(began).Round(time.Second))
				}
			}
		}
	}()

	// The flood: every start at once; wait until the server has accepted
	// them all, so the backlog is in the queue.
	var flood sync.WaitGroup
	for seq := range cfg.NoisyStarts {
		noisyWG.Add(1)
		flood.Add(1)
		go start(noisyCtx, &noisyWG, Noisy, "noisy-corp", saasapp.TenantProvisioningWorkflow, seq, flood.Done)
	}
	flood.Wait()

	// Quiet tenants and the cleanup job keep arriving while the flood waits.
	quietTotal := cfg.QuietTenants * cfg.QuietStarts
	events := max(quietTotal, cfg.JobStarts)
	step := cfg.Spread / time.Duration(max(1, events))
	for i := range events {
		if i < quietTotal {
			wg.Add(1)
			go start(ctx, &wg, Quiet, fmt.Sprintf("quiet-%d", i%cfg.QuietTenants), saasapp.UserOnboardingWorkflow, i, func() {})
		}
		if i < cfg.JobStarts {
			wg.Add(1)
			go start(ctx, &wg, Jobs, "", saasapp.TokenCleanupWorkflow, i, func() {})
		}
		time.Sleep(step)
	}
	wg.Wait()
	if cfg.AbandonNoisy {
		abandon()
		noisyWG.Wait()
		for seq := range cfg.NoisyStarts {
			// Already completed ones answer NotFound or a similar error.
			_ = c.TerminateWorkflow(ctx, workflowID(prefix, Noisy, "noisy-corp", seq), "", "scenario over")
		}
	}
	noisyWG.Wait()
	close(stopProgress)
	<-progressDone
	if firstEr != nil {
		return nil, fmt.Errorf("%s run: %w", name, firstEr)
	}
	return summarize(samples), nil
}

func workflowID(prefix, class, tenant string, seq int) string {
	return fmt.Sprintf("%s-%s-%s-%d", prefix, class, tenant, seq)
}

// quietLogger keeps the SDK's per-task logs out of the demo's output.
func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

func summarize(samples []sample) Result {
	res := Result{}
	for _, class := range []string{Noisy, Quiet, Jobs} {
		var waits, closes []float64
		for _, s := range samples {
			if s.class == class {
				waits = append(waits, ms(s.wait))
				closes = append(closes, ms(s.close))
			}
		}
		slices.Sort(waits)
		slices.Sort(closes)
		res[class] = Stats{
			Count:    len(waits),
			P50:      Percentile(waits, 50),
			P95:      Percentile(waits, 95),
			P99:      Percentile(waits, 99),
			Max:      Percentile(waits, 100),
			CloseP50: Percentile(closes, 50),
			CloseP95: Percentile(closes, 95),
		}
	}
	return res
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Percentile returns the p-th percentile (nearest rank) of sorted values;
// 0 for none.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}
