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
// queues, runs at most limit + headroom per process, so at most 12 + 4 in
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
				require.Equal(t, limit/3, b.Headroom(), "the default headroom")
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
// fair share, and waits in the worker, ahead of waiting polls, until the
// count is back under the limit if its kind is over (as a counted poll of
// its kind would).
func TestPoolHoldsByShare(t *testing.T) {
	q := func(name string) pollKey { return pollKey{queue: name, kind: "activity"} }
	flood, shardMate, jobs, waiting := q("saas.tenant.00"), q("saas.tenant.01"), q("saas.jobs.00"), q("saas.jobs.01")
	p, _ := newTestPool(4)
	p.headroom = 2
	backlogged(p, flood, waiting)
	running := runTasks(t, p, flood, flood, flood, flood)
	idle(p, shardMate, jobs)
	r1, r2 := reserveAsync(p, shardMate), reserveAsync(p, jobs)
	waitFor(t, "idle queues' polls granted at once", func() bool { return granted(r1) && granted(r2) })

	mate := make(chan struct{})
	go func() { p.markUsed(r1.g); close(mate) }() // the tenant kind has 4 running: over its share
	waitFor(t, "held", func() bool { return p.snapshot().waiting == 1 })
	p.markUsed(r2.g) // the jobs kind has none: under its share
	require.Equal(t, 5, p.snapshot().used)
	w := reserveAsync(p, waiting) // jobs: 1 running, 4 × 1/2 = 2 is its share, 5 < 4 + 2
	waitFor(t, "a counted poll of the kind under its share takes the headroom too", func() bool { return granted(w) })
	p.release(w.g) // an empty poll

	p.release(running[0]) // 4 counted: at the limit
	select {
	case <-mate:
		t.Fatal("the tenant kind's task started at the limit, over its share")
	default:
	}
	p.release(running[1])
	<-mate // 3 counted: under the limit
	require.Equal(t, 4, p.snapshot().used)
	for _, g := range append(running[2:], r1.g, r2.g) {
		p.release(g)
	}
	require.Equal(t, poolSnapshot{}, p.snapshot())
}
