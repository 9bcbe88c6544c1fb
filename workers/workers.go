// Package workers runs the SDK workers that poll routed task queues: one
// worker per shard queue, all with the same registrations, started and
// stopped together.
//
// A deployment usually runs one [Group] per queue kind, so that each kind
// scales on its own: the tenant kind's deployment autoscales on its queues'
// backlog, the jobs kind's stays small. A large shard count can be split
// across deployments by giving each a range of shards (see [Queues]).
//
// Stopping a Group while its queues still get tasks (scaling in, or
// retiring the workers of an old shard layout whose queues new workers also
// poll) can hand a task to a worker that is stopping; it then waits for its
// timeout before another worker runs it. Give such groups a
// worker.Options.WorkerStopTimeout longer than their longest task (with the
// default, 0, Stop abandons the tasks a worker holds), and have the server
// complete the polls of stopping workers
// (frontend.enableCancelWorkerPollsOnShutdown).
package workers

import (
	"errors"
	"fmt"
	"sync"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/routing"
)

// Queues returns the task queues that workers of kind must poll: see
// [routing.Table.PollQueues], which it calls.
func Queues(table *routing.Table, kind routing.QueueKind, shards ...int) ([]string, error) {
	return table.PollQueues(kind, shards...)
}

// Group is a set of SDK workers, one per task queue, sharing registrations
// and options. Create it with [New]; it is safe for concurrent use.
type Group struct {
	queues  []string
	workers []worker.Worker

	mu      sync.Mutex // protects started
	started bool
}

// New makes one worker per queue on c with opts, and calls register on each
// so they all run the same workflows and activities. It starts nothing.
func New(c client.Client, queues []string, opts worker.Options, register func(worker.Registry)) (*Group, error) {
	if c == nil || register == nil {
		return nil, errors.New("tqrouter: workers.New needs a client and a register function")
	}
	if len(queues) == 0 {
		return nil, errors.New("tqrouter: workers.New needs at least one queue")
	}
	g := &Group{queues: append([]string(nil), queues...)}
	for _, q := range g.queues {
		w := worker.New(c, q, opts)
		register(w)
		g.workers = append(g.workers, w)
	}
	return g, nil
}

// Queues returns the task queues the group polls.
func (g *Group) Queues() []string { return append([]string(nil), g.queues...) }

// Start starts every worker. If one fails, those already started are
// stopped and the error is returned.
func (g *Group) Start() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return errors.New("tqrouter: worker group already started")
	}
	for i, w := range g.workers {
		if err := w.Start(); err != nil {
			stopAll(g.workers[:i])
			return fmt.Errorf("tqrouter: starting worker for %q: %w", g.queues[i], err)
		}
	}
	g.started = true
	return nil
}

// Stop stops every worker, waiting for each to finish its in-flight tasks.
// Stopping a group that is not started does nothing.
func (g *Group) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.started {
		return
	}
	stopAll(g.workers)
	g.started = false
}

// Run starts the group, waits for a value on interruptCh (for example
// [worker.InterruptCh]), then stops it.
func (g *Group) Run(interruptCh <-chan any) error {
	if err := g.Start(); err != nil {
		return err
	}
	<-interruptCh
	g.Stop()
	return nil
}

func stopAll(ws []worker.Worker) {
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(w.Stop)
	}
	wg.Wait()
}
