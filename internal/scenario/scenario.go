// Package scenario plays the noisy-neighbour scenario against a Temporal
// server: one tenant floods TenantProvisioningWorkflow, quiet tenants start
// UserOnboardingWorkflow, and TokenCleanupWorkflow runs as the system job,
// every call site naming main-queue. It runs once without the router (one
// queue) and once with it (shard queues with fairness), with the same
// budget of worker slots, and measures how long each class waits.
//
// The tenants are drawn from a seed ([NewCast]), never picked: which quiet
// tenants share the noisy tenant's shard is chance, as it is for users, and
// those shard mates are reported as a class of their own.
package scenario

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
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
	// Seed draws the tenant IDs (see [NewCast]).
	Seed uint64
	// NoisyStarts is the size of the noisy tenant's flood.
	NoisyStarts int
	// QuietTenants start QuietStarts onboardings each, spread over the flood.
	QuietTenants, QuietStarts int
	// JobStarts cleanup jobs start with the first JobStarts quiet starts,
	// one each, so they arrive together early in the flood: the hardest
	// moment for them (see BENCHMARKS.md).
	JobStarts int
	// Work is how long each workflow's activity works.
	Work time.Duration
	// Slots is the worker budget: activities the run's workers may run at
	// once, in all, divided among WorkerProcs. In the baseline each
	// process's one worker has its share as fixed slots; in the routed run
	// each process's workers share theirs as routedWorkers says.
	Slots int
	// Headroom is how many activities past Slots the routed run's budgets
	// let a kind under its fair share start (workers.WithHeadroom), in
	// all, divided among WorkerProcs; -1, Default's, is the budget's
	// default for the whole of Slots (workers.DefaultHeadroom, half). The baseline's
	// workers have no such thing.
	Headroom int
	// Shards is the tenant shard count of the routed run, and the one the
	// quiet tenants are classified by in both runs.
	Shards int
	// Spread is how long the quiet tenants and jobs keep starting.
	Spread time.Duration
	// LegacyQueue is the queue every call site names (default main-queue).
	LegacyQueue string
	// AbandonNoisy ends a run as soon as the quiet tenants and jobs are
	// done, terminating the flood's remaining workflows: the noisy stats
	// then cover only the workflows that completed, and have no makespan.
	AbandonNoisy bool
	// Clients is how many API processes start the workflows: each has its
	// own SDK client and, in the routed run, its own router, which counts
	// only the starts made through it. Every start of every class goes to
	// the next client in turn. 0 means 1.
	Clients int
	// WorkerProcs is how many worker processes run the workflows: each
	// polls every queue of the run with its own SDK client (and, in the
	// routed run, its own router) and its own share of Slots, as worker
	// pods would. Slots divide evenly, the first Slots%WorkerProcs
	// processes taking one more; the headroom (Headroom, or half of
	// Slots by default) divides the same way, so the fleet's totals are
	// those of one process. 0 means 1.
	WorkerProcs int
	// WithoutHotTenants turns the routed run's hot-tenant isolation off
	// (interceptor.WithoutHotTenants): fairness alone orders the tenants
	// of a shard.
	WithoutHotTenants bool
}

// Default is the demo's scenario: a flood several seconds deep.
//
// Twelve quiet tenants: with 3 shards each shares the noisy tenant's shard
// with chance 1/3, so a seed gives 4 shard mates on average, at least 2
// with chance 0.95 and none with chance (2/3)^12 < 1%. Three onboardings
// each give the shard mates about 12 samples and the other quiet tenants
// about 24, and keep the quiet load (36 x 600 ms over 4 s, 5.4 slots on
// average) within the budget of 12 slots.
func Default() Config {
	return Config{Seed: 1, NoisyStarts: 150, QuietTenants: 12, QuietStarts: 3, JobStarts: 5, Work: 600 * time.Millisecond, Slots: 12, Headroom: -1, Shards: 3, Spread: 4 * time.Second, Clients: 1, WorkerProcs: 1}
}

// The classes measured.
const (
	// Noisy is the tenant that floods.
	Noisy = "noisy"
	// Quiet are the quiet tenants whose shard is not the noisy tenant's.
	Quiet = "quiet"
	// ShardMates are the quiet tenants whose shard is the noisy tenant's.
	ShardMates = "shard_mates"
	// Jobs is the system job, which has no tenant.
	Jobs = "jobs"
)

// Classes returns the classes in the order reports show them.
func Classes() []string { return []string{Quiet, ShardMates, Jobs, Noisy} }

// Cast is who plays a scenario: tenant IDs drawn from a seed.
type Cast struct {
	// Noisy is the tenant that floods.
	Noisy string
	// Quiet are the quiet tenants, in the order they were drawn.
	Quiet []string
}

// castStream is the second word of the PCG state; the seed is the first.
const castStream = 0x7471726f75746572 // "tqrouter"

// NewCast draws the noisy tenant and quiet distinct quiet tenants from seed
// with a PCG generator: IDs like "t-3f9a1c". The same seed gives the same
// cast on every machine and Go version (math/rand/v2's PCG is specified).
func NewCast(seed uint64, quiet int) Cast {
	r := rand.New(rand.NewPCG(seed, castStream))
	seen := map[string]bool{}
	draw := func() string {
		for {
			id := fmt.Sprintf("t-%06x", r.Uint32()>>8)
			if !seen[id] {
				seen[id] = true
				return id
			}
		}
	}
	c := Cast{Noisy: draw()}
	for range max(0, quiet) {
		c.Quiet = append(c.Quiet, draw())
	}
	return c
}

// Class returns the class of a quiet tenant: [ShardMates] if its shard
// among shards is the noisy tenant's ([routing.StableShard]), else [Quiet].
func (c Cast) Class(tenant string, shards int) string {
	if routing.StableShard(tenant, shards) == routing.StableShard(c.Noisy, shards) {
		return ShardMates
	}
	return Quiet
}

// ShardMates returns the quiet tenants whose shard among shards is the
// noisy tenant's.
func (c Cast) ShardMates(shards int) []string {
	var mates []string
	for _, t := range c.Quiet {
		if c.Class(t, shards) == ShardMates {
			mates = append(mates, t)
		}
	}
	return mates
}

// Stats summarizes the waits of one class, in milliseconds.
type Stats struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	// Start-to-close of the whole workflow: from the caller's start to
	// the workflow's finish (saasapp.Output.Finished; see [finish]).
	CloseP50 float64 `json:"start_to_close_p50_ms"`
	CloseP95 float64 `json:"start_to_close_p95_ms"`
	// The activity's own schedule-to-start, a part of the wait: the rest
	// is the workflow task's.
	ActivityP50 float64 `json:"activity_wait_p50_ms"`
	ActivityP95 float64 `json:"activity_wait_p95_ms"`
	// Makespan, for the noisy tenant only, is from its first start, as
	// the caller made it, to its last workflow's finish (see [finish]):
	// how long the flood took.
	Makespan float64 `json:"makespan_ms,omitempty"`
	// TenantSeen, for the classes with a tenant, is the fraction of the
	// samples whose activity read its own tenant through
	// interceptor.TenantFromContext: 1 when the workers run the router's
	// worker interceptor, 0 without a router (the baseline).
	TenantSeen *float64 `json:"tenant_seen,omitempty"`
}

// RunStats describes one run as a whole.
type RunStats struct {
	// Clients and WorkerProcs are the run's API and worker processes (see
	// [Config]).
	Clients     int `json:"clients"`
	WorkerProcs int `json:"worker_procs"`
	// Budget is how many activities the run's workers may run at once:
	// the sum over the worker processes.
	Budget int `json:"budget"`
	// Headroom is how many more a kind under its fair share may start
	// when the budget is full (workers.WithHeadroom), summed over the
	// worker processes: 0 in the baseline.
	Headroom int `json:"headroom"`
	// PeakRunning is the most activities that ran at once in all the
	// worker processes, counted by the activities themselves.
	PeakRunning int `json:"peak_running"`
	// Queues is how many task queues the run's workers poll.
	Queues int `json:"queues"`
	// LateResults counts the workflows whose result reached the caller
	// more than lateResult after the workflow finished (see [finish]).
	LateResults int `json:"late_results"`
	// Seed, Shards, NoisyTenant and ShardMateTenants say who played.
	Seed             uint64   `json:"seed"`
	Shards           int      `json:"shards"`
	NoisyTenant      string   `json:"noisy_tenant"`
	ShardMateTenants []string `json:"shard_mate_tenants"`
}

// Result is one run: the stats of each class, and of the run.
type Result struct {
	Noisy      Stats    `json:"noisy"`
	Quiet      Stats    `json:"quiet"`
	ShardMates Stats    `json:"shard_mates"`
	Jobs       Stats    `json:"jobs"`
	Run        RunStats `json:"run"`
}

// Class returns the stats of class, one of [Classes]; nil for another.
func (r *Result) Class(class string) *Stats {
	switch class {
	case Noisy:
		return &r.Noisy
	case Quiet:
		return &r.Quiet
	case ShardMates:
		return &r.ShardMates
	case Jobs:
		return &r.Jobs
	}
	return nil
}

// Env is where a scenario runs.
type Env struct {
	// ClientOptions dial the server (HostPort, Namespace). A nil Logger
	// gets one that shows only the SDK's warnings and errors.
	ClientOptions client.Options
	// Progress receives a line a second while a run is going; may be nil.
	Progress io.Writer
}

type sample struct {
	class, queue      string
	tenant, seen      string // the start's tenant; the one its activity read
	wait, close, act  time.Duration
	started, finished time.Time
	late              bool // its result came lateResult after it finished
}

// lateResult is how long after a workflow's finish its result may reach
// the caller before [finish] calls it late.
const lateResult = 2 * time.Second

// finish returns when a workflow finished: finished, the workflow's own
// account (the server's clock), unless it is zero or later than got, when
// its result reached the caller (a server clock ahead of the caller's);
// then got. It also reports whether the result was late: more than
// lateResult after the workflow finished. The caller's view alone is not
// the measure: it includes how long run.Get's long poll took to hear of
// the completion, and the server's history long poll sometimes misses a
// completion and answers only when it expires, 20 s after the poll began
// (history.longPollExpirationInterval), which added about 10 s to the
// makespan of some runs, baseline and routed alike (docs/demo.md has the
// figures).
func finish(finished, got time.Time) (time.Time, bool) {
	if finished.IsZero() || finished.After(got) {
		return got, false
	}
	return finished, got.Sub(finished) > lateResult
}

// Run plays cfg once; with routed it uses the router and shard queues,
// without it one legacy queue, main-queue. prefix keeps the routed queues and
// workflow IDs of separate runs apart.
func Run(ctx context.Context, env Env, cfg Config, routed bool, prefix string) (Result, error) {
	clients, procs := max(cfg.Clients, 1), max(cfg.WorkerProcs, 1)
	if cfg.Slots < 2 || cfg.Shards < 1 {
		return Result{}, fmt.Errorf("scenario needs at least 2 slots and 1 shard")
	}
	if cfg.Slots < procs {
		return Result{}, fmt.Errorf("scenario needs at least one slot per worker process: %d slots, %d processes", cfg.Slots, procs)
	}
	name := "baseline"
	legacy := cmp.Or(cfg.LegacyQueue, interceptor.DefaultLegacyQueue) // what every call site names
	cast := NewCast(cfg.Seed, cfg.QuietTenants)
	copts := env.ClientOptions
	if copts.Logger == nil {
		copts.Logger = quietLogger()
	}
	progress := env.Progress
	if progress == nil {
		progress = io.Discard
	}

	var (
		queues []string
		table  *routing.Table
		dial   = func() (client.Client, error) { return client.Dial(copts) }
	)
	if routed {
		name = "routed"
		var err error
		table, err = routing.NewTable(RoutingConfig(prefix, cfg.Shards))
		if err != nil {
			return Result{}, err
		}
		for _, k := range Kinds() {
			q, err := table.PollQueues(k)
			if err != nil {
				return Result{}, err
			}
			queues = append(queues, q...)
		}
		dial = func() (client.Client, error) { return DialRouted(copts, cfg, prefix) }
	} else {
		queues = []string{legacy}
	}
	fmt.Fprintf(progress, "  %-8s starting %d worker process(es) on %d queue(s) and %d client(s)\n", name, procs, len(queues), clients)

	meter := &saasapp.Meter{} // counts the activities of every worker process
	var budget, headroom int
	room := cfg.Headroom
	if room < 0 {
		room = workers.DefaultHeadroom(cfg.Slots) // the budget's default, for the whole fleet
	}
	slotShares, roomShares := Shares(cfg.Slots, procs), Shares(room, procs)
	for i := range procs {
		wc, err := dial()
		if err != nil {
			return Result{}, err
		}
		defer wc.Close()
		slots := slotShares[i]
		var group *workers.Group
		if routed {
			var b, h int
			if group, b, h, err = routedWorkers(wc, table, queues, slots, roomShares[i], meter.Register); err != nil {
				return Result{}, err
			}
			budget, headroom = budget+b, headroom+h
		} else {
			budget += slots
			if group, err = workers.New(wc, queues, worker.Options{MaxConcurrentActivityExecutionSize: slots}, meter.Register); err != nil {
				return Result{}, err
			}
		}
		if err := group.Start(); err != nil {
			return Result{}, err
		}
		defer group.Stop()
	}
	starters := make([]client.Client, clients)
	for i := range starters {
		c, err := dial()
		if err != nil {
			return Result{}, err
		}
		defer c.Close()
		starters[i] = c
	}
	var turn atomic.Uint64
	// next is the client of the next start, whatever its class: the
	// starts go round-robin over the API processes.
	next := func() client.Client { return starters[(turn.Add(1)-1)%uint64(len(starters))] }

	// Warm every queue with one workflow, as long-lived queues of a real
	// deployment are: the first task of a fresh queue is slower than the
	// rest, and would be counted against whichever run has more queues.
	// They name their queue, so a router leaves them there.
	fmt.Fprintf(progress, "  %-8s warming %d queue(s) with one workflow each\n", name, len(queues))
	for _, q := range queues {
		run, err := starters[0].ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: prefix + "-warm-" + q, TaskQueue: q}, saasapp.TokenCleanupWorkflow, saasapp.Input{})
		if err != nil {
			return Result{}, fmt.Errorf("warming %s: %w", q, err)
		}
		if err := run.Get(ctx, nil); err != nil {
			return Result{}, fmt.Errorf("warming %s: %w", q, err)
		}
	}

	total := cfg.NoisyStarts + len(cast.Quiet)*cfg.QuietStarts + cfg.JobStarts
	var (
		mu      sync.Mutex // protects samples and firstEr
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
		id := workflowID(prefix, class, tenant, seq)
		c := next()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:        id,
			TaskQueue: legacy, // every call site names the legacy queue
		}, fn, saasapp.Input{Work: cfg.Work})
		started()
		if err != nil {
			fail(fmt.Errorf("starting %s: %w", id, err))
			return
		}
		var out saasapp.Output
		if err := run.Get(ctx, &out); err != nil {
			if noisyCtx.Err() == nil || class != Noisy {
				fail(fmt.Errorf("waiting for %s: %w", id, err))
			}
			return
		}
		end, late := finish(out.Finished, time.Now())
		mu.Lock()
		samples = append(samples, sample{class: class, queue: out.ActivityQueue, tenant: tenant, seen: out.Tenant, wait: out.Waited, close: end.Sub(began), act: out.ActivityWait, started: began, finished: end, late: late})
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
					fmt.Fprintf(env.Progress, "  %-8s %4d/%d workflows done, %2d activities running (%s)\n", name, done.Load(), total, meter.Running(), time.Since(began).Round(time.Second))
				}
			}
		}
	}()

	// The flood: as fast as the server accepts the starts, floodInFlight
	// at a time; wait until the server has accepted them all, so the
	// backlog is in the queue.
	var flood sync.WaitGroup
	inFlight := make(chan struct{}, floodInFlight)
	for seq := range cfg.NoisyStarts {
		noisyWG.Add(1)
		flood.Add(1)
		inFlight <- struct{}{}
		go start(noisyCtx, &noisyWG, Noisy, cast.Noisy, saasapp.TenantProvisioningWorkflow, seq, func() {
			<-inFlight
			flood.Done()
		})
	}
	flood.Wait()

	// Quiet tenants and the cleanup job keep arriving while the flood waits,
	// the quiet tenants taking turns.
	quietTotal := len(cast.Quiet) * cfg.QuietStarts
	events := max(quietTotal, cfg.JobStarts)
	step := cfg.Spread / time.Duration(max(1, events))
	for i := range events {
		if i < quietTotal {
			tenant := cast.Quiet[i%len(cast.Quiet)]
			wg.Add(1)
			go start(ctx, &wg, cast.Class(tenant, cfg.Shards), tenant, saasapp.UserOnboardingWorkflow, i, func() {})
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
			_ = starters[0].TerminateWorkflow(ctx, workflowID(prefix, Noisy, cast.Noisy, seq), "", "scenario over")
		}
	}
	noisyWG.Wait()
	close(stopProgress)
	<-progressDone
	if firstEr != nil {
		return Result{}, fmt.Errorf("%s run: %w", name, firstEr)
	}
	if routed {
		// The classes are computed from routing.StableShard; the server
		// must agree on where each quiet tenant's work ran. (The noisy
		// tenant's may run elsewhere: a router may isolate a hot tenant.)
		shardQueue := routing.TaskQueueName(prefix, routing.Tenant, routing.StableShard(cast.Noisy, cfg.Shards))
		for _, s := range samples {
			if (s.class == Quiet || s.class == ShardMates) && (s.class == ShardMates) != (s.queue == shardQueue) {
				return Result{}, fmt.Errorf("%s run: a %s workflow's activity ran on %s, the noisy tenant's shard queue is %s", name, s.class, s.queue, shardQueue)
			}
		}
	}
	res := summarize(samples, !cfg.AbandonNoisy)
	late := 0
	for _, s := range samples {
		if s.late {
			late++
		}
	}
	res.Run = RunStats{
		Clients: clients, WorkerProcs: procs,
		Budget: budget, Headroom: headroom, PeakRunning: meter.Peak(), Queues: len(queues), LateResults: late,
		Seed: cfg.Seed, Shards: cfg.Shards, NoisyTenant: cast.Noisy, ShardMateTenants: cast.ShardMates(cfg.Shards),
	}
	return res, nil
}

// RoutingConfig is the routing of the routed run: shards tenant shards
// of prefix and one overflow queue, written out so that operators' commands
// can name it.
func RoutingConfig(prefix string, shards int) routing.Config {
	return routing.Config{Prefix: prefix, Shards: shards, Overflow: routing.DefaultOverflow}
}

// Kinds returns the queue kinds the routed run's workers poll: the
// tenant-scoped workflows' and the system job's.
func Kinds() []routing.QueueKind { return []routing.QueueKind{routing.Tenant, routing.Jobs} }

// floodInFlight bounds the noisy tenant's start calls in flight at once, as
// a caller's connection pool or worker count would: a thousand at once is
// not a flood the server sees any sooner, only one whose calls time out.
const floodInFlight = 64

// DialRouted dials the client of one process of the routed run, with a
// router of its own in client.Options.Interceptors, as README tells users
// to wire it: the router routes the starts made through the client, and
// the workers made from it run its worker interceptor, which passes the
// tenant on to activities and routes children and continue-as-new. Each
// API process and worker pod has its own router, which counts only what
// passes through it. Every client of the routed run is made here.
func DialRouted(copts client.Options, cfg Config, prefix string) (client.Client, error) {
	opts := []interceptor.Option{interceptor.WithLegacyQueues(cmp.Or(cfg.LegacyQueue, interceptor.DefaultLegacyQueue))}
	if cfg.WithoutHotTenants {
		opts = append(opts, interceptor.WithoutHotTenants())
	}
	router, err := interceptor.New(registry.Default(), RoutingConfig(prefix, cfg.Shards), opts...)
	if err != nil {
		return nil, err
	}
	copts.Interceptors = append(slices.Clone(copts.Interceptors), router)
	c, err := client.Dial(copts)
	if err != nil {
		return nil, err
	}
	// Each API process of a fleet sees a part of a flood; the server's
	// backlog of the shard lets it isolate the flood as one process would.
	router.AttachClient(c, copts.Namespace)
	return c, nil
}

// Shares divides n among procs processes: n/procs each, and one more for
// each of the first n%procs, so that the shares add up to n. Slots and
// headroom divide among the worker processes this way.
func Shares(n, procs int) []int {
	s := make([]int, max(procs, 1))
	for i := range s {
		s[i] = n / len(s)
		if i < n%len(s) {
			s[i]++
		}
	}
	return s
}

// routedWorkers makes the routed run's workers of one process, one per
// queue it may be started, sharing one work-conserving budget of slots
// activities at once and headroom past them (workers.Budget): capacity goes
// to whichever queue has work, so the noisy tenant's queues may use every
// slot the quiet ones leave idle, as the baseline's worker may. It returns
// the group, the budget's limit and its headroom.
func routedWorkers(c client.Client, table *routing.Table, queues []string, slots, headroom int, register func(worker.Registry)) (*workers.Group, int, int, error) {
	// Workflow tasks keep the budget's default, the limit the baseline's
	// worker has: the budget compared is activities.
	budget, err := workers.NewBudget(slots, workers.WithHeadroom(headroom))
	if err != nil {
		return nil, 0, 0, err
	}
	// Each kind is a class of the budget, and its overflow queue another,
	// so the jobs kind's one queue is not outnumbered by the tenant kind's.
	g, err := workers.New(c, queues, worker.Options{}, register, workers.WithBudget(budget), workers.WithKindClasses(table))
	return g, budget.Limit(), budget.Headroom(), err
}

func workflowID(prefix, class, tenant string, seq int) string {
	return fmt.Sprintf("%s-%s-%s-%d", prefix, class, tenant, seq)
}

// quietLogger keeps the SDK's per-task logs out of the demo's output.
func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// summarize computes each class's stats from samples, and the noisy
// tenant's makespan if withMakespan.
func summarize(samples []sample, withMakespan bool) Result {
	var res Result
	for _, class := range Classes() {
		var waits, closes, acts []float64
		var first, last time.Time
		seen := 0
		for _, s := range samples {
			if s.class != class {
				continue
			}
			if s.tenant != "" && s.seen == s.tenant {
				seen++
			}
			waits = append(waits, ms(s.wait))
			closes = append(closes, ms(s.close))
			acts = append(acts, ms(s.act))
			if first.IsZero() || s.started.Before(first) {
				first = s.started
			}
			if s.finished.After(last) {
				last = s.finished
			}
		}
		slices.Sort(waits)
		slices.Sort(closes)
		slices.Sort(acts)
		st := Stats{
			Count:    len(waits),
			P50:      Percentile(waits, 50),
			P95:      Percentile(waits, 95),
			P99:      Percentile(waits, 99),
			Max:      Percentile(waits, 100),
			CloseP50: Percentile(closes, 50),
			CloseP95: Percentile(closes, 95),

			ActivityP50: Percentile(acts, 50),
			ActivityP95: Percentile(acts, 95),
		}
		if class == Noisy && withMakespan && len(waits) > 0 {
			st.Makespan = ms(last.Sub(first))
		}
		if class != Jobs && len(waits) > 0 {
			f := float64(seen) / float64(len(waits))
			st.TenantSeen = &f
		}
		*res.Class(class) = st
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

// ParseDynamicConfig parses kv, "K=V", a dynamic config value for the
// embedded server, into m: V is parsed as JSON, else taken as a string.
// The commands' repeatable --dynamic-config flag uses it.
func ParseDynamicConfig(kv string, m map[string]any) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("want K=V, got %q", kv)
	}
	var val any
	if err := json.Unmarshal([]byte(v), &val); err != nil {
		val = v
	}
	m[k] = val
	return nil
}
