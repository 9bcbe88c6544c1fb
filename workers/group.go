package workers

import (
	"errors"
	"fmt"
	"sync"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
)

// ErrStopped is returned, wrapped, by [Group.Start] and [Group.Run] on a
// group that has been stopped: a stopped group stays stopped.
var ErrStopped = errors.New("tqrouter: worker group stopped")

// Group is a set of SDK workers, one per task queue, sharing registrations
// and options. Create it with [New]; it is safe for concurrent use.
//
// A group is new, running or stopped:
//
//   - [Group.Start] starts a new group's workers. If one fails to start,
//     those already started are stopped, Start returns the error and the
//     group is new again: Start may be retried (with fresh SDK workers,
//     since an SDK worker cannot be started twice) or the group stopped.
//   - [Group.Stop] stops a running group, waiting for its workers to stop,
//     and makes any group stopped. It may be called at any time, any
//     number of times, from any goroutine; a Stop during a Start waits for
//     the Start to end.
//   - A stopped group is stopped for good: Start and Run return an error
//     wrapping [ErrStopped].
//   - When one worker fails fatally (the SDK gives up polling, for example
//     because the namespace is gone), the group stops all its workers, and
//     [Group.Run] returns that worker's error.
type Group struct {
	c         client.Client
	queues    []string
	opts      worker.Options
	tuners    []worker.WorkerTuner // by queue, with a budget
	register  func(worker.Registry)
	newWorker func(client.Client, string, worker.Options) worker.Worker

	stopping sync.WaitGroup // stopRun calls after fatal errors

	mu      sync.Mutex // protects the fields below
	state   groupState
	run     *run // workers of the current or next start
	stopped chan struct{}
}

type groupState int

const (
	groupNew groupState = iota
	groupRunning
	groupStopped
)

// run is one set of SDK workers: those made by New, and a fresh set for
// every retried Start.
type run struct {
	workers []worker.Worker
	started bool // Start was called on them

	failOnce sync.Once
	failed   chan struct{} // closed after err is set
	err      error
}

// New makes one worker per queue on c with opts, and calls register on each
// so they all run the same workflows and activities. It starts nothing.
// register is called again for each worker of a retried [Group.Start].
//
// With [WithBudget], the workers share one budget of running tasks instead
// of each having worker.Options' limits; opts then may set neither a Tuner
// nor any of MaxConcurrentWorkflowTaskExecutionSize,
// MaxConcurrentActivityExecutionSize, MaxConcurrentLocalActivityExecutionSize
// or MaxConcurrentNexusTaskExecutionSize. opts.OnFatalError, if set, is
// called before the group stops.
func New(c client.Client, queues []string, opts worker.Options, register func(worker.Registry), options ...Option) (*Group, error) {
	return newGroup(c, queues, opts, register, worker.New, options...)
}

func newGroup(c client.Client, queues []string, opts worker.Options, register func(worker.Registry),
	newWorker func(client.Client, string, worker.Options) worker.Worker, options ...Option) (*Group, error) {
	if c == nil || register == nil {
		return nil, errors.New("tqrouter: workers.New needs a client and a register function")
	}
	if len(queues) == 0 {
		return nil, errors.New("tqrouter: workers.New needs at least one queue")
	}
	seen := make(map[string]bool, len(queues))
	for _, q := range queues {
		switch {
		case q == "":
			return nil, errors.New("tqrouter: workers.New: empty queue name")
		case seen[q]:
			return nil, fmt.Errorf("tqrouter: workers.New: queue %q given twice", q)
		}
		seen[q] = true
	}
	var o groupOptions
	for _, opt := range options {
		opt(&o)
	}
	for q := range o.classes {
		if !seen[q] {
			return nil, fmt.Errorf("tqrouter: workers.New: WithQueueClass names %q, not one of the group's queues", q)
		}
	}
	if o.autoscaling != nil {
		if opts.MaxConcurrentWorkflowTaskPollers != 0 || opts.MaxConcurrentActivityTaskPollers != 0 ||
			opts.WorkflowTaskPollerBehavior != nil || opts.ActivityTaskPollerBehavior != nil {
			return nil, errors.New("tqrouter: workers.New with WithPollerAutoscaling takes no MaxConcurrent*TaskPollers and no *TaskPollerBehavior in worker.Options")
		}
		opts.WorkflowTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(*o.autoscaling)
		opts.ActivityTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(*o.autoscaling)
	}
	var tuners []worker.WorkerTuner
	if o.budget != nil {
		if opts.Tuner != nil || opts.MaxConcurrentWorkflowTaskExecutionSize != 0 ||
			opts.MaxConcurrentActivityExecutionSize != 0 || opts.MaxConcurrentLocalActivityExecutionSize != 0 ||
			opts.MaxConcurrentNexusTaskExecutionSize != 0 {
			return nil, errors.New("tqrouter: workers.New with a budget takes no Tuner and no MaxConcurrent*ExecutionSize in worker.Options")
		}
		// The group's own class, unless named, is one class for all its
		// queues: one tuner's suppliers carry it.
		own, err := o.budget.tuner(o.class)
		if err != nil {
			return nil, fmt.Errorf("tqrouter: budget tuner: %w", err)
		}
		byClass := map[Class]worker.WorkerTuner{}
		for _, q := range queues {
			c, ok := o.classes[q]
			if !ok && o.kinds != nil {
				c, ok = kindClass(o.kinds, q)
			}
			if !ok {
				tuners = append(tuners, own)
				continue
			}
			t := byClass[c]
			if t == nil {
				if t, err = o.budget.tuner(c); err != nil {
					return nil, fmt.Errorf("tqrouter: budget tuner: %w", err)
				}
				byClass[c] = t
			}
			tuners = append(tuners, t)
		}
		// First among the worker options' interceptors: its workflow
		// outbound is then inside theirs, so it sees the activity
		// options they leave. A client's interceptors (a tqrouter
		// Router in client.Options) come before all of these (sdk-go
		// v1.51 internal_worker.go:2640), so it sees an activity before
		// the router moves a hot tenant's to an overflow queue: such an
		// activity may be given a light token it does not use, which
		// expires (its key has activities running, as a rule, and gets
		// none).
		if !opts.DisableEagerActivities {
			opts.Interceptors = append([]interceptor.WorkerInterceptor{o.budget.light}, opts.Interceptors...)
		}
	}
	g := &Group{
		c:         c,
		queues:    append([]string(nil), queues...),
		opts:      opts,
		tuners:    tuners,
		register:  register,
		newWorker: newWorker,
		stopped:   make(chan struct{}),
	}
	g.run = g.newRun()
	return g, nil
}

// newRun makes a worker per queue whose fatal errors fail the new run.
func (g *Group) newRun() *run {
	r := &run{failed: make(chan struct{})}
	opts := g.opts
	userHook := g.opts.OnFatalError
	opts.OnFatalError = func(err error) {
		if userHook != nil {
			userHook(err)
		}
		r.fail(err)
		g.stopping.Go(func() { g.stopRun(r) })
	}
	for i, q := range g.queues {
		if g.tuners != nil {
			opts.Tuner = g.tuners[i]
		}
		w := g.newWorker(g.c, q, opts)
		g.register(w)
		r.workers = append(r.workers, w)
	}
	return r
}

func (r *run) fail(err error) {
	r.failOnce.Do(func() {
		r.err = err
		close(r.failed)
	})
}

// Queues returns the task queues the group polls.
func (g *Group) Queues() []string { return append([]string(nil), g.queues...) }

// Start starts every worker. If one fails, those already started are
// stopped and the error is returned; the group can then be started again or
// stopped. Starting a running group is an error, and starting a stopped one
// an error wrapping [ErrStopped].
func (g *Group) Start() error {
	_, err := g.start()
	return err
}

func (g *Group) start() (*run, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.state {
	case groupStopped:
		return nil, fmt.Errorf("%w: cannot start it again", ErrStopped)
	case groupRunning:
		return nil, errors.New("tqrouter: worker group already started")
	}
	r := g.run
	if r.started {
		r = g.newRun()
		g.run = r
	}
	r.started = true
	for i, w := range r.workers {
		if err := w.Start(); err != nil {
			// The failed worker may have started some of its pollers.
			stopAll(r.workers[:i+1])
			return nil, fmt.Errorf("tqrouter: starting worker for %q: %w", g.queues[i], err)
		}
	}
	g.state = groupRunning
	return r, nil
}

// Stop stops every worker, waiting for each to finish its in-flight tasks
// (up to worker.Options.WorkerStopTimeout), and leaves the group stopped
// for good. It is safe to call at any time and more than once; a group that
// never started has nothing to stop.
func (g *Group) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopLocked()
}

func (g *Group) stopLocked() {
	switch g.state {
	case groupStopped:
		return
	case groupRunning:
		stopAll(g.run.workers)
	}
	g.state = groupStopped
	close(g.stopped)
}

// stopRun stops the group after a fatal error of one of r's workers, if r
// is the group's running set (a failed Start has stopped r already).
func (g *Group) stopRun(r *run) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.run == r && g.state == groupRunning {
		g.stopLocked()
	}
}

// Run starts the group, waits for a value on interruptCh (for example
// [worker.InterruptCh]), for a worker to fail fatally, or for [Group.Stop],
// then stops the group. It returns the error of a failed Start, the fatal
// error of a worker, or nil.
func (g *Group) Run(interruptCh <-chan any) error {
	r, err := g.start()
	if err != nil {
		return err
	}
	select {
	case <-interruptCh:
	case <-r.failed:
	case <-g.stopped:
	}
	g.Stop()
	select {
	case <-r.failed:
		return r.err
	default:
		return nil
	}
}

func stopAll(ws []worker.Worker) {
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(w.Stop)
	}
	wg.Wait()
}
