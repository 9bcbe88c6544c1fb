package workers

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"
)

// TestFleetBound: a fleet of W worker processes, each with its own budget
// of 12/W slots and the default headroom, polling the demo's 5 routed
// queues, runs at most limit + headroom per process, so at most 12 + 6 in
// all whatever W (1.5 × 12 = 18 is the demo's target), even when the
// flood fills every process's limit and then a task reaches each of every
// process's 4 other queues at once, through their polls taken for idle
// (uncounted). The tasks of kinds under their share start within the
// headroom; the others wait in the worker and start as the flood's end.
// Before, a task from an uncounted poll always started: each process went
// past its limit by one per idle queue, 12 + 4W in all (24 for W = 3).
func TestFleetBound(t *testing.T) {
	const slots = 12
	q := func(name string) pollKey { return pollKey{queue: name, kind: "activity"} }
	flood := q("saas.tenant.01")
	others := []pollKey{q("saas.tenant.00"), q("saas.tenant.02"), q("saas.tenant.overflow-00"), q("saas.jobs.00")}
	for _, w := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("W=%d", w), func(t *testing.T) {
			type process struct {
				p            *pool
				flood, idle  []*grant
				marked       []chan struct{}
				limitAndRoom int
			}
			var fleet []*process
			bound := 0
			for i := range w {
				limit := slots / w
				if i < slots%w {
					limit++
				}
				b, err := NewBudget(limit, withClock(newManualClock()), WithMeterProvider(noop.NewMeterProvider()))
				require.NoError(t, err)
				require.Equal(t, limit/2, b.Headroom(), "the default headroom")
				pr := &process{p: b.activities, limitAndRoom: limit + b.Headroom()}
				bound += pr.limitAndRoom
				backlogged(pr.p, flood)
				pr.flood = runTasks(t, pr.p, slices.Repeat([]pollKey{flood}, limit)...)
				idle(pr.p, others...)
				for _, k := range others {
					r := reserveAsync(pr.p, k)
					waitFor(t, "an idle queue's poll is granted at once", func() bool { return granted(r) })
					pr.idle = append(pr.idle, r.g)
				}
				fleet = append(fleet, pr)
			}
			require.LessOrEqual(t, bound, slots*3/2)

			// Every idle queue of every process gets a task at once.
			for _, pr := range fleet {
				for _, g := range pr.idle {
					done := make(chan struct{})
					go func() { pr.p.markUsed(g); close(done) }()
					pr.marked = append(pr.marked, done)
				}
			}
			running := 0
			for _, pr := range fleet {
				waitFor(t, "each task started or held", func() bool {
					s := pr.p.snapshot()
					return s.used-len(pr.flood)+s.waiting == len(others)
				})
				s := pr.p.snapshot()
				require.LessOrEqual(t, s.used, pr.limitAndRoom, "a process runs at most its limit and headroom")
				require.Greater(t, s.used, len(pr.flood), "a kind under its share starts at once, in the headroom")
				running += s.used
			}
			require.LessOrEqual(t, running, bound)
			t.Logf("W=%d: %d running at once (bound %d, target %d)", w, running, bound, slots*3/2)

			// As the flood's tasks end, the held tasks start.
			for _, pr := range fleet {
				for _, g := range pr.flood {
					pr.p.release(g)
				}
				for _, done := range pr.marked {
					<-done
				}
				for _, g := range pr.idle {
					pr.p.release(g)
				}
				require.Equal(t, poolSnapshot{}, pr.p.snapshot())
			}
		})
	}
}

// TestPoolHoldsByShare: with the limit full, a task that a poll taken for
// idle brings starts at once, in the headroom, if its kind is under its
// fair share or its queue has nothing running (an idle queue's first
// task, even of the flood's kind); a task of a queue with tasks running,
// of a kind over its share, waits in the worker until the count is back
// under the limit, as a counted poll of that kind would; and nothing
// starts past limit + headroom.
func TestPoolHoldsByShare(t *testing.T) {
	q := func(name string) pollKey { return pollKey{queue: name, kind: "activity"} }
	flood, mate, quiet, jobs := q("saas.tenant.00"), q("saas.tenant.01"), q("saas.tenant.02"), q("saas.jobs.00")
	p, clk := newTestPool(4)
	p.headroom = 2
	backlogged(p, flood)
	running := runTasks(t, p, flood, flood, flood)
	late := reserveAsync(p, flood) // a poll of the flood's queue that will age
	waitFor(t, "granted", func() bool { return granted(late) })
	clk.Advance(testIdle)
	require.Equal(t, 0, p.snapshot().young)
	// The limit is full: the flood's queue has an aged poll out, so its
	// other pollers wait; another shard of the flood's kind takes the 4th.
	other := q("saas.tenant.03")
	backlogged(p, other)
	running = append(running, runTasks(t, p, other)...)
	idle(p, mate, quiet, jobs)
	var polls []*reservation
	for _, k := range []pollKey{mate, quiet, jobs} {
		r := reserveAsync(p, k)
		waitFor(t, "an idle queue's poll is granted at once", func() bool { return granted(r) })
		polls = append(polls, r)
	}

	start := func(g *grant) chan struct{} {
		done := make(chan struct{})
		go func() { p.markUsed(g); close(done) }()
		return done
	}
	isDone := func(ch chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	floodTask := start(late.g) // the tenant kind is over its share, its queue busy
	waitFor(t, "held", func() bool { return p.snapshot().waiting == 1 })
	mateTask, jobsTask := start(polls[0].g), start(polls[2].g)
	waitFor(t, "the flood's kind, but a queue with nothing running: starts", func() bool { return isDone(mateTask) })
	waitFor(t, "the jobs kind, under its share: starts", func() bool { return isDone(jobsTask) })
	require.Equal(t, 6, p.snapshot().used, "limit + headroom")
	quietTask := start(polls[1].g)
	waitFor(t, "held at limit + headroom", func() bool { return p.snapshot().waiting == 2 })

	p.release(running[0]) // 5: the quiet shard's first task starts, not the flood's
	waitFor(t, "the quiet shard's task", func() bool { return isDone(quietTask) })
	require.False(t, isDone(floodTask))
	// The flood's queue keeps running[2] running until the end, so that
	// its held task is never an idle queue's first (which may start in
	// the headroom whatever its kind's share).
	p.release(running[1]) // 5
	require.False(t, isDone(floodTask), "over its share, its queue busy")
	p.release(running[3]) // 4: at the limit
	require.False(t, isDone(floodTask), "over its share, at the limit")
	p.release(running[2])
	waitFor(t, "the flood's task, under the limit", func() bool { return isDone(floodTask) }) // 3
	require.Equal(t, 4, p.snapshot().used)
	p.release(late.g)
	for _, r := range polls {
		p.release(r.g)
	}
	require.Equal(t, poolSnapshot{}, p.snapshot())
}
