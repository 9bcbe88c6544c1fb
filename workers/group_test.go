package workers

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tqrouter/tqrouter/routing"
)

// fakeWorker behaves as an SDK worker does for the group's purposes: Start
// after Stop panics, Stop is idempotent, a fatal error reaches
// OnFatalError. Methods the group does not call panic (nil embedded).
type fakeWorker struct {
	worker.Worker
	queue    string
	opts     worker.Options
	startErr error

	mu         sync.Mutex
	starts     int
	stops      int
	registered int
}

func (w *fakeWorker) Start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stops > 0 {
		panic("attempted to start a worker that has been stopped before")
	}
	w.starts++
	return w.startErr
}

func (w *fakeWorker) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stops++
}

func (w *fakeWorker) RegisterWorkflowWithOptions(any, workflow.RegisterOptions) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.registered++
}

func (w *fakeWorker) counts() (starts, stops int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.starts, w.stops
}

// factory makes fake workers and remembers them.
type factory struct {
	mu      sync.Mutex
	made    []*fakeWorker
	failFor map[string]int // queue -> how many more Starts fail
}

func (f *factory) newWorker(_ client.Client, queue string, opts worker.Options) worker.Worker {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &fakeWorker{queue: queue, opts: opts}
	if f.failFor[queue] > 0 {
		f.failFor[queue]--
		w.startErr = errors.New("namespace not found")
	}
	f.made = append(f.made, w)
	return w
}

func (f *factory) workers() []*fakeWorker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fakeWorker(nil), f.made...)
}

func register(r worker.Registry) {
	r.RegisterWorkflowWithOptions(func(workflow.Context) error { return nil }, workflow.RegisterOptions{Name: "W"})
}

func testClient(t *testing.T) client.Client {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func newFakeGroup(t *testing.T, f *factory, opts worker.Options, options ...Option) *Group {
	t.Helper()
	g, err := newGroup(testClient(t), []string{"a", "b", "c"}, opts, register, f.newWorker, options...)
	require.NoError(t, err)
	return g
}

func TestGroupStoppedIsFinal(t *testing.T) {
	f := &factory{}
	g := newFakeGroup(t, f, worker.Options{})
	require.NoError(t, g.Start())
	require.Error(t, g.Start(), "already running")
	g.Stop()
	g.Stop() // idempotent
	err := g.Start()
	require.ErrorIs(t, err, ErrStopped, "no panic from the SDK: the group refuses")
	require.ErrorContains(t, err, "tqrouter: ")
	require.ErrorIs(t, g.Run(nil), ErrStopped)
	for _, w := range f.workers() {
		starts, stops := w.counts()
		require.Equal(t, 1, starts, w.queue)
		require.Equal(t, 1, stops, w.queue)
	}
}

func TestGroupStopBeforeStart(t *testing.T) {
	f := &factory{}
	g := newFakeGroup(t, f, worker.Options{})
	g.Stop()
	require.ErrorIs(t, g.Start(), ErrStopped)
	for _, w := range f.workers() {
		starts, stops := w.counts()
		require.Zero(t, starts)
		require.Zero(t, stops, "a worker never started is not stopped")
	}
}

func TestGroupFailedStartCanBeRetried(t *testing.T) {
	f := &factory{failFor: map[string]int{"b": 1}}
	g := newFakeGroup(t, f, worker.Options{})
	err := g.Start()
	require.ErrorContains(t, err, `starting worker for "b"`)
	first := f.workers()
	require.Len(t, first, 3)
	for _, w := range first[:2] {
		starts, stops := w.counts()
		require.Equal(t, 1, starts, w.queue)
		require.Equal(t, 1, stops, "the started workers, and the failed one, are stopped: %s", w.queue)
	}
	starts, _ := first[2].counts()
	require.Zero(t, starts, "c was never started")

	require.NoError(t, g.Start(), "a failed Start can be retried")
	second := f.workers()[3:]
	require.Len(t, second, 3, "with fresh SDK workers")
	for _, w := range second {
		starts, stops := w.counts()
		require.Equal(t, 1, starts)
		require.Zero(t, stops)
		require.Equal(t, 1, w.registered, "registered again")
	}
	g.Stop()
	for _, w := range second {
		_, stops := w.counts()
		require.Equal(t, 1, stops)
	}
}

func TestGroupFailedStartThenStop(t *testing.T) {
	f := &factory{failFor: map[string]int{"a": 1}}
	g := newFakeGroup(t, f, worker.Options{})
	require.Error(t, g.Start())
	g.Stop()
	require.ErrorIs(t, g.Start(), ErrStopped)
	require.Len(t, f.workers(), 3, "no workers made for a stopped group")
}

func TestGroupRunReturnsFatalError(t *testing.T) {
	f := &factory{}
	var hooked atomic.Value
	g := newFakeGroup(t, f, worker.Options{OnFatalError: func(err error) { hooked.Store(err) }})
	errc := make(chan error, 1)
	go func() { errc <- g.Run(make(chan any)) }()

	fatal := errors.New("namespace deleted")
	var ws []*fakeWorker
	require.Eventually(t, func() bool {
		ws = f.workers()
		starts, _ := ws[2].counts()
		return starts == 1
	}, 5*time.Second, time.Millisecond)
	go ws[1].opts.OnFatalError(fatal) // the SDK calls it on a goroutine of its own

	select {
	case err := <-errc:
		require.ErrorIs(t, err, fatal)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after a fatal worker error")
	}
	require.Equal(t, fatal, hooked.Load(), "the user's own callback is called too")
	for _, w := range ws {
		_, stops := w.counts()
		require.Equal(t, 1, stops, "every worker is stopped: %s", w.queue)
	}
	require.ErrorIs(t, g.Start(), ErrStopped)
}

func TestGroupFatalErrorStopsAStartedGroup(t *testing.T) {
	f := &factory{}
	g := newFakeGroup(t, f, worker.Options{})
	require.NoError(t, g.Start())
	f.workers()[0].opts.OnFatalError(errors.New("gone"))
	require.Eventually(t, func() bool {
		for _, w := range f.workers() {
			if _, stops := w.counts(); stops != 1 {
				return false
			}
		}
		return true
	}, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, g.Start(), ErrStopped)
}

func TestGroupStaleFatalErrorIsIgnored(t *testing.T) {
	f := &factory{failFor: map[string]int{"c": 1}}
	g := newFakeGroup(t, f, worker.Options{})
	require.Error(t, g.Start())
	stale := f.workers()[0]
	require.NoError(t, g.Start())
	stale.opts.OnFatalError(errors.New("from a worker of the failed start"))
	g.stopping.Wait() // the stale run's stop has been decided
	require.ErrorContains(t, g.Start(), "already started", "the group is still running")
	for _, w := range f.workers()[3:] {
		_, stops := w.counts()
		require.Zero(t, stops, "the running workers keep running")
	}
	g.Stop()
	for _, w := range f.workers()[3:] {
		_, stops := w.counts()
		require.Equal(t, 1, stops, "Stop stops them")
	}
}

func TestGroupRunInterruptAndStop(t *testing.T) {
	f := &factory{}
	g := newFakeGroup(t, f, worker.Options{})
	interrupt := make(chan any, 1)
	interrupt <- struct{}{}
	require.NoError(t, g.Run(interrupt))
	require.ErrorIs(t, g.Start(), ErrStopped)

	g2 := newFakeGroup(t, f, worker.Options{})
	errc := make(chan error, 1)
	go func() { errc <- g2.Run(nil) }()
	require.Eventually(t, func() bool {
		ws := f.workers()
		starts, _ := ws[len(ws)-1].counts()
		return len(ws) == 6 && starts == 1
	}, 5*time.Second, time.Millisecond)
	g2.Stop()
	select {
	case err := <-errc:
		require.NoError(t, err, "Stop from elsewhere ends Run")
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
}

func TestGroupConcurrentStartStop(t *testing.T) {
	for range 20 {
		f := &factory{failFor: map[string]int{"b": 2}}
		g := newFakeGroup(t, f, worker.Options{})
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if i%2 == 0 {
					_ = g.Start()
				} else {
					g.Stop()
				}
			})
		}
		wg.Wait()
		g.Stop()
		for _, w := range f.workers() {
			starts, stops := w.counts()
			require.LessOrEqual(t, starts, 1)
			require.Equal(t, starts, stops, "every started worker is stopped once: %s", w.queue)
		}
	}
}

func TestNewValidates(t *testing.T) {
	c := testClient(t)
	_, err := New(nil, []string{"q"}, worker.Options{}, register)
	require.Error(t, err)
	_, err = New(c, nil, worker.Options{}, register)
	require.Error(t, err)
	_, err = New(c, []string{"q"}, worker.Options{}, nil)
	require.Error(t, err)

	var registered []string
	queues := []string{"a", "b"}
	g, err := New(c, queues, worker.Options{}, func(r worker.Registry) {
		registered = append(registered, "x")
		register(r)
	})
	require.NoError(t, err)
	require.Len(t, registered, 2, "every worker gets the registrations")
	queues[0] = "mutated"
	require.Equal(t, []string{"a", "b"}, g.Queues())
	g.Stop() // not started: no-op

	for name, tc := range map[string]struct {
		queues []string
		opts   []Option
	}{
		"empty queue":        {queues: []string{"a", ""}},
		"repeated queue":     {queues: []string{"a", "b", "a"}},
		"class of no queue":  {queues: []string{"a"}, opts: []Option{WithQueueClass(Class{Name: "x"}, "b")}},
		"negative weight":    {queues: []string{"a"}, opts: []Option{WithClass(Class{Weight: -1})}},
		"two weights of one": {queues: []string{"a", "b"}, opts: []Option{WithClass(Class{Name: "k"}), WithQueueClass(Class{Name: "k", Weight: 4}, "b")}},
	} {
		b, err := NewBudget(4)
		require.NoError(t, err)
		_, err = New(c, tc.queues, worker.Options{}, register, append(tc.opts, WithBudget(b))...)
		require.ErrorContains(t, err, "tqrouter: ", name)
		require.NoError(t, b.Close())
	}
}

// TestNewGivesClasses: the group gives each queue's class to the budget:
// its own class by default, WithClass's, or WithQueueClass's for the
// queues named; a named class is one across groups of a budget.
func TestNewGivesClasses(t *testing.T) {
	b, err := NewBudget(4)
	require.NoError(t, err)
	defer b.Close()
	classOf := func(w *fakeWorker) *classState {
		return w.opts.Tuner.GetActivityTaskSlotSupplier().(*supplier).class
	}
	f := &factory{}
	g := newFakeGroup(t, f, worker.Options{}, WithBudget(b))
	defer g.Stop()
	ws := f.workers()
	require.Same(t, classOf(ws[0]), classOf(ws[2]), "one class for the group's queues")
	require.Equal(t, 1, classOf(ws[0]).weight)

	f2 := &factory{}
	g2 := newFakeGroup(t, f2, worker.Options{}, WithBudget(b),
		WithClass(Class{Name: "tenant"}), WithQueueClass(Class{Name: "tenant.overflow", Weight: 4}, "c"))
	defer g2.Stop()
	ws2 := f2.workers()
	require.NotSame(t, classOf(ws[0]), classOf(ws2[0]), "another group, another class")
	require.Same(t, classOf(ws2[0]), classOf(ws2[1]))
	require.Equal(t, "tenant", classOf(ws2[0]).name)
	require.Equal(t, 4, classOf(ws2[2]).weight)
	require.Same(t, b.workflows, ws2[2].opts.Tuner.GetWorkflowTaskSlotSupplier().(*supplier).pool)

	f3 := &factory{}
	g3 := newFakeGroup(t, f3, worker.Options{}, WithBudget(b), WithClass(Class{Name: "tenant"}))
	defer g3.Stop()
	require.Same(t, classOf(ws2[0]), classOf(f3.workers()[0]), "a named class is shared across groups")
}

func TestNewWithBudget(t *testing.T) {
	b, err := NewBudget(4)
	require.NoError(t, err)
	f := &factory{}
	g := newFakeGroup(t, f, worker.Options{}, WithBudget(b), WithBudget(nil))
	defer g.Stop()
	for _, w := range f.workers() {
		tuner := w.opts.Tuner
		require.NotNil(t, tuner)
		act, ok := tuner.GetActivityTaskSlotSupplier().(*supplier)
		require.True(t, ok)
		require.Same(t, b.activities, act.pool)
		la := tuner.GetLocalActivitySlotSupplier().(*supplier)
		require.Same(t, b.activities, la.pool, "local activities count as activities")
		require.NotEqual(t, act.kind, la.kind)
		require.Same(t, b.workflows, tuner.GetWorkflowTaskSlotSupplier().(*supplier).pool)
	}

	for name, opts := range map[string]worker.Options{
		"tuner":          {Tuner: f.workers()[0].opts.Tuner},
		"workflow tasks": {MaxConcurrentWorkflowTaskExecutionSize: 1},
		"activities":     {MaxConcurrentActivityExecutionSize: 1},
		"local":          {MaxConcurrentLocalActivityExecutionSize: 1},
		"nexus":          {MaxConcurrentNexusTaskExecutionSize: 1},
	} {
		_, err := New(testClient(t), []string{"q"}, opts, register, WithBudget(b))
		require.ErrorContains(t, err, "tqrouter: ", name)
	}
}

// TestNewWithPollerAutoscaling: the option gives every worker the SDK's
// autoscaling poller behaviour, and refuses poller settings beside it.
func TestNewWithPollerAutoscaling(t *testing.T) {
	f := &factory{}
	g := newFakeGroup(t, f, worker.Options{}, WithPollerAutoscaling(worker.PollerBehaviorAutoscalingOptions{MaximumNumberOfPollers: 8}))
	defer g.Stop()
	want := worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{
		InitialNumberOfPollers: 1, MinimumNumberOfPollers: 1, MaximumNumberOfPollers: 8,
	})
	for _, w := range f.workers() {
		require.Equal(t, want, w.opts.WorkflowTaskPollerBehavior)
		require.Equal(t, want, w.opts.ActivityTaskPollerBehavior)
	}
	for name, opts := range map[string]worker.Options{
		"workflow pollers": {MaxConcurrentWorkflowTaskPollers: 2},
		"activity pollers": {MaxConcurrentActivityTaskPollers: 2},
		"behaviour":        {ActivityTaskPollerBehavior: want},
	} {
		_, err := New(testClient(t), []string{"q"}, opts, register, WithPollerAutoscaling(worker.PollerBehaviorAutoscalingOptions{}))
		require.ErrorContains(t, err, "tqrouter: ", name)
	}
}

// TestWithKindClasses: each routed queue's class is its kind's, a kind's
// overflow queues are a class of weight 4, and a queue the table does not
// route stays in the group's own class; an explicit WithQueueClass wins.
func TestWithKindClasses(t *testing.T) {
	table, err := routing.NewTable(routing.Config{Prefix: "saas", Shards: 2})
	require.NoError(t, err)
	b, err := NewBudget(4)
	require.NoError(t, err)
	defer b.Close()
	queues := []string{"saas.tenant.00", "saas.tenant.01", "saas.tenant.overflow-00", "saas.jobs.00", "main-queue", "saas.tenant.pinned-vip"}
	f := &factory{}
	g, err := newGroup(testClient(t), queues, worker.Options{}, register, f.newWorker,
		WithBudget(b), WithKindClasses(table), WithQueueClass(Class{Name: "vip"}, "saas.tenant.pinned-vip"))
	require.NoError(t, err)
	defer g.Stop()
	classOf := func(w *fakeWorker) *classState {
		return w.opts.Tuner.GetActivityTaskSlotSupplier().(*supplier).class
	}
	ws := f.workers()
	require.Len(t, ws, len(queues))
	require.Same(t, classOf(ws[0]), classOf(ws[1]), "a kind's shards are one class")
	require.Equal(t, "tenant", classOf(ws[0]).name)
	require.Equal(t, "tenant.overflow", classOf(ws[2]).name)
	require.Equal(t, OverflowClassWeight, classOf(ws[2]).weight)
	require.Equal(t, "jobs", classOf(ws[3]).name)
	require.NotSame(t, classOf(ws[0]), classOf(ws[4]), "an unrouted queue is in the group's own class")
	require.NotSame(t, classOf(ws[3]), classOf(ws[4]))
	require.Equal(t, "vip", classOf(ws[5]).name, "WithQueueClass wins")
}

// TestGroupLightInterceptor: a group with a budget puts the budget's
// interceptor first among its workers' (innermost workflow outbound: it
// sees the activity options the SDK will use), keeping the caller's and
// leaving the caller's slice alone; without a budget, or with eager
// activities off, it adds none.
func TestGroupLightInterceptor(t *testing.T) {
	b, err := NewBudget(4)
	require.NoError(t, err)
	defer b.Close()
	mine := &interceptor.WorkerInterceptorBase{}
	callers := []interceptor.WorkerInterceptor{mine}
	f := &factory{}
	g := newFakeGroup(t, f, worker.Options{Interceptors: callers}, WithBudget(b))
	defer g.Stop()
	for _, w := range f.workers() {
		require.Equal(t, []interceptor.WorkerInterceptor{b.light, mine}, w.opts.Interceptors)
	}
	require.Equal(t, []interceptor.WorkerInterceptor{mine}, callers)

	for _, tc := range []struct {
		name    string
		opts    worker.Options
		options []Option
	}{
		{"no budget", worker.Options{Interceptors: callers}, nil},
		{"eager off", worker.Options{Interceptors: callers, DisableEagerActivities: true}, []Option{WithBudget(b)}},
	} {
		f := &factory{}
		g := newFakeGroup(t, f, tc.opts, tc.options...)
		defer g.Stop()
		for _, w := range f.workers() {
			require.Equal(t, callers, w.opts.Interceptors, tc.name)
		}
	}
}
