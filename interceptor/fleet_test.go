package interceptor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkinterceptor "go.temporal.io/sdk/interceptor"
	"google.golang.org/grpc"

	"github.com/tqrouter/tqrouter/registry"
	"github.com/tqrouter/tqrouter/routing"
)

// fakeServer is the server's view of the routed queues as one fleet's
// starts make it: each start that reaches a queue adds a workflow task to
// its backlog, which the queue's workers drain at capacity tasks a second.
// It answers as server v1.32 does (see describeBacklog): the larger of the
// whole queue's backlog as the root partition cached it (for 5 s) and the
// root partition's own, live, which holds 1/partitions of it.
type fakeServer struct {
	clk        *clock
	capacity   float64 // tasks a second each queue's workers drain
	partitions int
	err        error // every answer's error, when set
	busy       int64 // a backlog every queue has at least, when set

	mu     sync.Mutex // protects queues and asks
	queues map[string]*fakeQueue
	asks   int
}

type fakeQueue struct {
	backlog  float64
	at       time.Time
	cached   int64
	cachedAt time.Time
}

func newFakeServer(clk *clock, capacity float64) *fakeServer {
	return &fakeServer{clk: clk, capacity: capacity, partitions: 4, queues: map[string]*fakeQueue{}}
}

// queue returns name's queue, drained up to now.
func (s *fakeServer) queue(name string) *fakeQueue {
	now := s.clk.Now()
	q := s.queues[name]
	if q == nil {
		q = &fakeQueue{at: now}
		s.queues[name] = q
	}
	q.backlog = max(0, q.backlog-s.capacity*now.Sub(q.at).Seconds())
	q.at = now
	return q
}

// land records a start that reached queue.
func (s *fakeServer) land(queue string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue(queue).backlog++
}

// backlogOf is the fake's BacklogFunc.
func (s *fakeServer) backlogOf(_ context.Context, queue string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asks++
	if s.err != nil {
		return 0, s.err
	}
	q := s.queue(queue)
	now := s.clk.Now()
	if q.cachedAt.IsZero() || now.Sub(q.cachedAt) >= 5*time.Second {
		q.cached, q.cachedAt = int64(q.backlog), now
	}
	root := int64(q.backlog) / int64(s.partitions)
	return max(q.cached, root, s.busy), nil
}

// fleetOf is k client processes, each with its own router, in front of one
// server.
type fleetOf struct {
	t       *testing.T
	srv     *fakeServer
	routers []*harness
	next    int
	// workers are the fleet's worker processes, each with its own router:
	// each counts the activities of the workflows it runs.
	workers []*harness
	// starts counts the fleet's starts, and yielded those that went to
	// their shard below the caller's priority (the fleet's starts set
	// none).
	starts, yielded int
}

func newFleet(t *testing.T, k int, srv *fakeServer, opts ...Option) *fleetOf {
	f := &fleetOf{t: t, srv: srv}
	for range k {
		all := append([]Option{WithHotTenants(HotTenants{}), withClock(srv.clk.Now), WithLogger(&logRecorder{})}, opts...)
		f.routers = append(f.routers, saas(t, all...))
	}
	return f
}

// start makes one start of tenant through the next process, round-robin,
// and returns the queue it went to. Each process's requests to the server
// are answered before the next start: a request on loopback takes about a
// millisecond, about as long as the fleet's next start.
func (f *fleetOf) start(tenant string) string {
	f.t.Helper()
	q, _, _ := f.startVia(tenant)
	return q
}

// startVia is start, and says which process made it and whether its
// router counted it (and marked its header so: see countedHeader).
func (f *fleetOf) startVia(tenant string) (queue string, by *harness, counted bool) {
	f.t.Helper()
	h := f.routers[f.next%len(f.routers)]
	f.next++
	opts := onMain
	got, out, err := h.router.routeOptions(WithTenant(context.Background(), tenant), "ExecuteWorkflow", "UserOnboardingWorkflow", &opts)
	require.NoError(f.t, err)
	f.srv.land(got.TaskQueue)
	f.starts++
	if got.Priority.PriorityKey != 0 {
		f.yielded++
	}
	h.router.hot.fleet.asks.Wait()
	return got.TaskQueue, h, out.counted
}

// hot returns the tenants hot in all of f's processes, each process once
// (its workers may be its client processes).
func (f *fleetOf) hot() int {
	n, seen := 0, map[*harness]bool{}
	for _, h := range slices.Concat(f.routers, f.workers) {
		if !seen[h] {
			seen[h] = true
			n += h.router.HotTenants()
		}
	}
	return n
}

// withWorkers gives f w worker processes, each with its own router of the
// same options as the client processes'.
func (f *fleetOf) withWorkers(w int, opts ...Option) *fleetOf {
	for range w {
		all := append([]Option{WithHotTenants(HotTenants{}), withClock(f.srv.clk.Now), WithLogger(&logRecorder{})}, opts...)
		f.workers = append(f.workers, saas(f.t, all...))
	}
	return f
}

// flood sends n starts of tenant through f, 2 ms apart (the pace of the
// demo's flood through a fleet), with a quiet tenant's start after every
// 10th, a shard-mate's every 150th (two in the flood's 0.8 s), and returns how many of the flood's
// starts reached its shard. No quiet start may overflow.
func flood(f *fleetOf, tenant string, n int) (landed int) {
	f.t.Helper()
	shard := routing.TaskQueueName("saas", routing.Tenant, routing.StableShard(tenant, shards))
	mate := shardMate(f.t, tenant, shards)
	for i := range n {
		if f.start(tenant) == shard {
			landed++
		}
		f.srv.clk.Advance(2 * time.Millisecond)
		switch {
		case i%150 == 149:
			require.Equal(f.t, shard, f.start(mate), "a shard-mate stays on the shard")
		case i%10 == 9:
			require.NotContains(f.t, f.start(fmt.Sprintf("quiet-%d", i)), "overflow")
		}
	}
	return landed
}

// TestFleetFloodIsolatedAsQuicklyAsOneProcess: a flood sent round-robin
// through 16 processes, each counting alone, puts 16 x (Enter-1) = 64 of
// its starts on its shard before every process has isolated it. With the
// server's view, a process isolates it once the server shows the shard's
// backlog and it sees the tenant's third start in a burst: each process
// puts the first two on the shard (the second asks the server), so 2 x 16
// = 32 in all, or Backlog x partitions (20: the live root partition's share
// of the backlog reaching Backlog) if that is more. Through one process,
// Enter-1 = 4. Counted in starts, not time.
func TestFleetFloodIsolatedAsQuicklyAsOneProcess(t *testing.T) {
	const n = 400
	landed := func(k int, attach bool) int {
		clk := newClock()
		srv := newFakeServer(clk, 10) // a shard's workers run 10 tasks a second: the flood backlogs
		var opts []Option
		if attach {
			opts = append(opts, WithBacklogFunc(srv.backlogOf))
		}
		f := newFleet(t, k, srv, opts...)
		got := flood(f, "noisy", n)
		assert.Equal(t, k, f.hot(), "every process isolates the flood")
		assert.Equal(t, k, got-f.yielded, "of the flood's starts on the shard, only each process's first keeps its priority")
		// The flood lasts about a second: at most askBurst+askRate
		// requests per process.
		assert.LessOrEqual(t, srv.asks, k*(askBurst+askRate))
		return got
	}
	one := landed(1, false)
	alone := landed(16, false)
	oneWithServer := landed(1, true)
	withServer := landed(16, true)
	t.Logf("flood starts on the shard: 1 process %d (%d with the server), 16 counting alone %d, 16 with the server %d", one, oneWithServer, alone, withServer)
	assert.Equal(t, DefaultHotEnter-1, one)
	assert.Equal(t, DefaultHotEnter-1, oneWithServer)
	assert.Equal(t, 16*(DefaultHotEnter-1), alone)
	assert.LessOrEqual(t, withServer, 16*(DefaultHotSuspect-1))
}

// TestFleetFallsBackToCountingAlone: when the server cannot answer (an
// error, or a BacklogFunc that panics), each process counts alone, as
// without it: the flood is isolated after Enter-1 starts per process.
func TestFleetFallsBackToCountingAlone(t *testing.T) {
	for name, f := range map[string]func(*fakeServer) BacklogFunc{
		"error": func(srv *fakeServer) BacklogFunc {
			srv.err = errors.New("unavailable")
			return srv.backlogOf
		},
		"panic": func(*fakeServer) BacklogFunc {
			return func(context.Context, string) (int64, error) { panic("boom") }
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newFakeServer(newClock(), 10)
			fl := newFleet(t, 16, srv, WithBacklogFunc(f(srv)))
			assert.Equal(t, 16*(DefaultHotEnter-1), flood(fl, "noisy", 400))
			assert.Equal(t, 16, fl.hot())
		})
	}
}

// TestFleetShardMateOfADrainingFloodIsNotSuspected: after a flood is
// isolated, its backlog still drains on the shard and the server still
// reports it; a shard-mate that starts a burst of its own through one
// process is not isolated on that word: beside the flood's starts,
// overflowed ones included, it is not Share of the shard's.
func TestFleetShardMateOfADrainingFloodIsNotSuspected(t *testing.T) {
	srv := newFakeServer(newClock(), 10)
	f := newFleet(t, 16, srv, WithBacklogFunc(srv.backlogOf))
	flood(f, "noisy", 100)
	require.Equal(t, 16, f.hot())
	mate := shardMate(t, "noisy", shards)
	shard := routing.TaskQueueName("saas", routing.Tenant, routing.StableShard("noisy", shards))
	for range DefaultHotEnter - 1 {
		f.next = 0 // a burst through one process
		assert.Equal(t, shard, f.start(mate))
		srv.clk.Advance(time.Millisecond)
	}
	backlog, err := srv.backlogOf(context.Background(), shard)
	require.NoError(t, err)
	require.GreaterOrEqual(t, backlog, int64(DefaultHotBacklog), "the server still reports the flood's backlog")
	assert.Equal(t, 16, f.hot())
}

// TestAttachClientDetaches: AttachClient(nil) takes the server's view
// away, and the router counts alone; on a router without hot-tenant
// isolation it does nothing.
func TestAttachClientDetaches(t *testing.T) {
	srv := newFakeServer(newClock(), 10)
	f := newFleet(t, 16, srv, WithBacklogFunc(srv.backlogOf))
	for _, h := range f.routers {
		h.router.AttachClient(nil, "")
	}
	assert.Equal(t, 16*(DefaultHotEnter-1), flood(f, "noisy", 400))
	assert.Zero(t, srv.asks)
	off := saas(t) // the harness's default: WithoutHotTenants
	off.router.AttachClient(nil, "")
	assert.Zero(t, off.router.HotTenants())
}

// TestFleetConcurrentStarts: starts from many goroutines through one
// router, while its requests to the server run, are race-free (run with
// -race), and the flood is isolated.
func TestFleetConcurrentStarts(t *testing.T) {
	var mu sync.Mutex
	asks := 0
	router, err := New(registry.Default(), routing.Config{Prefix: "saas", Shards: shards}, WithHotTenants(HotTenants{}), WithLogger(&logRecorder{}),
		WithBacklogFunc(func(context.Context, string) (int64, error) {
			mu.Lock()
			defer mu.Unlock()
			asks++
			return 1000, nil
		}))
	require.NoError(t, err)
	next := &overflowCounter{}
	out := router.InterceptClient(next)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				tenant := "noisy"
				if i%5 == 0 {
					tenant = fmt.Sprintf("quiet-%d-%d", g, i)
				}
				_, err := out.ExecuteWorkflow(WithTenant(context.Background(), tenant), &sdkinterceptor.ClientExecuteWorkflowInput{
					Options: &client.StartWorkflowOptions{TaskQueue: "main-queue"}, WorkflowType: "UserOnboardingWorkflow"})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	router.hot.fleet.asks.Wait()
	assert.Equal(t, 1, router.HotTenants())
	assert.Positive(t, next.n.Load(), "the flood overflowed")
	mu.Lock()
	assert.LessOrEqual(t, asks, askBurst+askRate*10)
	mu.Unlock()
}

// overflowCounter is a next interceptor safe for concurrent use that counts
// the starts that reach an overflow queue.
type overflowCounter struct {
	sdkinterceptor.ClientOutboundInterceptorBase
	n atomic.Int64
}

func (o *overflowCounter) ExecuteWorkflow(_ context.Context, in *sdkinterceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	if strings.Contains(in.Options.TaskQueue, "overflow") {
		o.n.Add(1)
	}
	return nil, nil
}

// ordinary sends the starts of 1,000 tenants at ordinary rates through f
// for a simulated minute: each tenant starts a workflow every 10 s on
// average (Poisson), ten of them every second; 100 starts a second in
// all, 3 a second per shard. Each workflow, if f has workers, runs on one
// of them (a poller's choice) and schedules one activity there at once. It
// returns how many starts and activities overflowed.
func ordinary(f *fleetOf, seed uint64) (overflowed int) {
	rng := rand.New(rand.NewPCG(seed, 0))
	type next struct {
		at     time.Duration
		tenant int
	}
	mean := func(tenant int) time.Duration {
		if tenant < 10 {
			return time.Second
		}
		return 10 * time.Second
	}
	var starts []next
	for tenant := range 1000 {
		for at := time.Duration(rng.ExpFloat64() * float64(mean(tenant))); at < time.Minute; at += time.Duration(rng.ExpFloat64() * float64(mean(tenant))) {
			starts = append(starts, next{at, tenant})
		}
	}
	slices.SortFunc(starts, func(a, b next) int { return cmp.Compare(a.at, b.at) })
	var now time.Duration
	for _, s := range starts {
		f.srv.clk.Advance(s.at - now)
		now = s.at
		tenant := fmt.Sprintf("tenant-%d", s.tenant)
		q, by, counted := f.startVia(tenant)
		if strings.Contains(q, "overflow") {
			overflowed++
		}
		if len(f.workers) > 0 {
			w := f.workers[rng.IntN(len(f.workers))]
			// The workflow's header says whether w's own client counted it.
			if strings.Contains(workerOf(f.t, w, tenant, q, w == by && counted), "overflow") {
				overflowed++
			}
			w.router.hot.fleet.asks.Wait()
		}
		f.next = rng.IntN(len(f.routers)) // a load balancer's choice
	}
	return overflowed
}

// TestFleetOrdinaryTenantsNeverHot: 1,000 tenants at ordinary rates
// through 16 client processes that share the server's view: none is hot,
// in any process, whether the shards keep up (no backlog) or are all
// reported backlogged past Backlog all along (busy workers, no flood): no
// tenant makes 2 starts in a window through one process that are half of
// that process's starts to its shard. The requests to the server stay
// within the bound.
//
// When the workflows run on workers that count their activities (see
// decideWorkflowActivity), 16 worker processes of their own add no
// isolation while the shards keep up. With every shard backlogged, or with
// the same 16 processes as clients and workers (each sees twice the
// starts, as 8 would), an ordinary tenant is isolated now and then, for a
// few seconds: over 20 seeds of this minute, 0-2 activities (own workers,
// busy) and 0-9 (shared processes) went to an overflow queue, of some 6,000
// activities; the bound below is that. With fewer processes each sees a
// larger part of a tenant's starts and its bursts, and isolates more
// (docs/hot-tenants.md has the numbers, clients and workers alike).
//
// A tenant whose two starts come through one process within a few hundred
// milliseconds, and are most of that process's starts to its shard, is a
// suspect for those starts, and they yield (see HotTenants.Suspect): over
// 20 seeds, at most 33 (client processes only), 29 (own workers) and 45
// (shared processes) of some 6,000 starts; the bound is 1%.
func TestFleetOrdinaryTenantsNeverHot(t *testing.T) {
	for _, workers := range []string{"none", "own", "shared"} {
		for _, busy := range []bool{false, true} {
			t.Run(fmt.Sprintf("workers=%s/busy=%t", workers, busy), func(t *testing.T) {
				srv := newFakeServer(newClock(), 10)
				if busy {
					srv.busy = DefaultHotBacklog
				}
				f := newFleet(t, 16, srv, WithBacklogFunc(srv.backlogOf))
				procs := 16
				switch workers {
				case "own":
					f.withWorkers(16, WithBacklogFunc(srv.backlogOf))
					procs += 16
				case "shared":
					f.workers = f.routers
				}
				overflowed := ordinary(f, 16)
				if workers == "none" || !busy && workers == "own" {
					assert.Zero(t, overflowed, "starts and activities sent to an overflow queue")
				} else {
					assert.LessOrEqual(t, overflowed, 10, "activities sent to an overflow queue")
				}
				assert.Zero(t, f.hot(), "every isolation ended")
				assert.LessOrEqual(t, f.yielded, f.starts/100, "starts that yielded")
				assert.LessOrEqual(t, srv.asks, procs*(askBurst+askRate*60), "requests: at most 5 a second per process")
				t.Logf("requests to the server from %d processes in a minute: %d; overflowed: %d; yielded: %d of %d starts", procs, srv.asks, overflowed, f.yielded, f.starts)
			})
		}
	}
}

// TestFleetIsolationIsTracedAndCounted: a tenant isolated on the server's
// word says so in its span event and in the isolation metric (evidence
// "server"), and the requests to the server are counted, failed ones by
// error type; no attribute is a tenant.
func TestFleetIsolationIsTracedAndCounted(t *testing.T) {
	clk := newClock()
	reader := sdkmetric.NewManualReader()
	fail := true
	h := saas(t, WithHotTenants(HotTenants{}), withClock(clk.Now), WithLogger(&logRecorder{}),
		WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		WithBacklogFunc(func(context.Context, string) (int64, error) {
			if fail {
				return 0, errors.New("unavailable")
			}
			return 1000, nil
		}))
	ctx := WithTenant(context.Background(), "acme")
	start := func() string {
		got, err := h.execute(ctx, "UserOnboardingWorkflow", onMain)
		require.NoError(t, err)
		h.router.hot.fleet.asks.Wait()
		clk.Advance(time.Millisecond)
		return got.TaskQueue
	}
	start()
	start() // suspected: asks, and the server fails
	fail = false
	start() // asks again: flooded
	assert.Equal(t, "saas.tenant.overflow-00", start(), "the 4th start, below Enter")
	events := h.lastSpan(t).Events()
	require.Len(t, events, 1)
	evidence := map[attribute.Key]string{}
	for _, kv := range events[0].Attributes {
		evidence[kv.Key] = kv.Value.Emit()
	}
	assert.Equal(t, "server", evidence[AttrHotEvidence])

	for _, c := range counters(t, reader) {
		for _, kv := range c.dp.Attributes.ToSlice() {
			assert.NotContains(t, kv.Value.Emit(), "acme", c.name)
		}
	}
	got := sums(t, reader, string(AttrHotEvidence), string(AttrErrorType))
	assert.Equal(t, int64(1), got[MetricIsolations+"/server/"])
	assert.Equal(t, int64(1), got[MetricBacklogRequests+"//error"])
	assert.Equal(t, int64(1), got[MetricBacklogRequests+"//"])
}

// TestFleetConfirmedTenantStaysHotBelowExit: with Enter set far out of
// reach (1000, so Exit is 250), a tenant isolated on the server's word
// stays hot while its flood goes on, though its count here never nears
// Exit, and cools down once it stops.
func TestFleetConfirmedTenantStaysHotBelowExit(t *testing.T) {
	srv := newFakeServer(newClock(), 10)
	f := newFleet(t, 16, srv, WithBacklogFunc(srv.backlogOf), WithHotTenants(HotTenants{Enter: 1000}))
	landed := flood(f, "noisy", 400)
	assert.Equal(t, 16, f.hot())
	assert.LessOrEqual(t, landed, 16*(DefaultHotSuspect-1))
	srv.clk.Advance(time.Minute)
	for range 16 {
		f.start("someone-else")
	}
	assert.Zero(t, f.hot(), "cooled down once the flood stopped")
}

// describeService is a WorkflowServiceClient that answers DescribeTaskQueue
// with the response for the request's task type and records the requests;
// any other method panics (nil embedded interface).
type describeService struct {
	workflowservice.WorkflowServiceClient
	resp map[enumspb.TaskQueueType]*workflowservice.DescribeTaskQueueResponse
	mu   sync.Mutex
	reqs []*workflowservice.DescribeTaskQueueRequest
}

func (s *describeService) DescribeTaskQueue(_ context.Context, req *workflowservice.DescribeTaskQueueRequest, _ ...grpc.CallOption) (*workflowservice.DescribeTaskQueueResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, req)
	return s.resp[req.GetTaskQueueType()], nil
}

// TestDescribeBacklog: the question asks for the workflow and the activity
// task queue's stats (cached by the server) and their root partition's
// status (live), and the answer is the largest of the four counts: a flood
// of slow activities queues activity tasks, not workflow tasks.
func TestDescribeBacklog(t *testing.T) {
	answer := func(cached, live int64) *workflowservice.DescribeTaskQueueResponse {
		return &workflowservice.DescribeTaskQueueResponse{
			Stats:           &taskqueuepb.TaskQueueStats{ApproximateBacklogCount: cached},
			TaskQueueStatus: &taskqueuepb.TaskQueueStatus{BacklogCountHint: live},
		}
	}
	for _, tc := range []struct {
		name    string
		wf, act *workflowservice.DescribeTaskQueueResponse
		want    int64
	}{
		{"cached total is stale", answer(2, 7), answer(0, 0), 7},
		{"live root is a quarter", answer(30, 8), answer(1, 1), 30},
		{"a flood of slow activities", answer(0, 1), answer(3, 40), 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := &describeService{resp: map[enumspb.TaskQueueType]*workflowservice.DescribeTaskQueueResponse{
				enumspb.TASK_QUEUE_TYPE_WORKFLOW: tc.wf, enumspb.TASK_QUEUE_TYPE_ACTIVITY: tc.act,
			}}
			n, err := describeBacklog(context.Background(), svc, "ns", "saas.tenant.03")
			require.NoError(t, err)
			assert.Equal(t, tc.want, n)
			require.Len(t, svc.reqs, 2)
			types := map[enumspb.TaskQueueType]bool{}
			for _, req := range svc.reqs {
				types[req.GetTaskQueueType()] = true
				assert.Equal(t, "ns", req.GetNamespace())
				assert.Equal(t, "saas.tenant.03", req.GetTaskQueue().GetName())
				assert.Equal(t, enumspb.TASK_QUEUE_KIND_NORMAL, req.GetTaskQueue().GetKind())
				assert.True(t, req.GetReportStats())
				assert.True(t, req.GetIncludeTaskQueueStatus())
			}
			assert.True(t, types[enumspb.TASK_QUEUE_TYPE_WORKFLOW] && types[enumspb.TASK_QUEUE_TYPE_ACTIVITY], "both task types")
		})
	}
}
