package workers

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/worker"
)

// idleQueues parks pollers on n idle queues through s, as a worker whose
// queues have no work does: each queue's first poll is out on the server
// (granted, never returning), its other pollers wait for it. It returns a
// function that ends them.
func idleQueues(t testing.TB, s worker.SlotSupplier, n, pollers int, kind enumspb.TaskQueueKind) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		info := reserveInfo{queue: fmt.Sprintf("idle.%04d", i), kind: kind}
		for range pollers {
			wg.Go(func() {
				if permit, err := s.ReserveSlot(ctx, info); err == nil {
					<-ctx.Done() // a long poll that finds nothing
					s.ReleaseSlot(permitInfo{permit: permit})
				}
			})
		}
	}
	return func() { cancel(); wg.Wait() }
}

// settled waits until every goroutine of the budget's pollers is parked:
// each poll granted or waiting.
func settled(b *Budget, want int) {
	for {
		n := 0
		for _, p := range []*pool{b.activities, b.workflows} {
			p.mu.Lock()
			for _, ks := range p.keys {
				n += len(ks.waiters) + ks.polls
			}
			p.mu.Unlock()
		}
		if n >= want {
			return
		}
		runtime.Gosched()
	}
}

// BenchmarkGrantWithIdleQueues is the cost of a busy queue's poll slot
// (reserve, mark used, release) through [Budget.Tuner], with n idle queues
// of 2 activity pollers each sharing the budget, beside the SDK's
// fixed-size supplier. The cost must not grow with n (issue: 4.2 µs with
// 10 idle queues, 513 µs with 200, when every grant scanned every waiting
// poll).
func BenchmarkGrantWithIdleQueues(b *testing.B) {
	ctx := context.Background()
	busy := reserveInfo{queue: "busy", kind: enumspb.TASK_QUEUE_KIND_NORMAL}
	b.Run("sdk_fixed_size", func(b *testing.B) {
		s, _ := worker.NewFixedSizeSlotSupplier(12)
		b.ReportAllocs()
		for b.Loop() {
			permit, _ := s.ReserveSlot(ctx, busy)
			s.MarkSlotUsed(markInfo{permit: permit})
			s.ReleaseSlot(permitInfo{permit: permit})
		}
	})
	for _, n := range []int{10, 100, 1000, 2000, 4000} {
		b.Run(fmt.Sprintf("idle_queues:%d", n), func(b *testing.B) {
			budget, err := NewBudget(12, WithMeterProvider(noop.NewMeterProvider()))
			require.NoError(b, err)
			tuner, err := budget.Tuner()
			require.NoError(b, err)
			s := tuner.GetActivityTaskSlotSupplier()
			stop := idleQueues(b, s, n, 2, enumspb.TASK_QUEUE_KIND_NORMAL)
			defer stop()
			settled(budget, 2*n)
			// The first polls of the first 12 idle queues counted, while
			// the budget had room: let them age (200 ms) before timing.
			time.Sleep(DefaultIdlePollAfter + 50*time.Millisecond)
			permit, _ := s.ReserveSlot(ctx, busy)
			s.MarkSlotUsed(markInfo{permit: permit})
			s.ReleaseSlot(permitInfo{permit: permit})
			b.ReportAllocs()
			for b.Loop() {
				permit, _ := s.ReserveSlot(ctx, busy)
				s.MarkSlotUsed(markInfo{permit: permit})
				s.ReleaseSlot(permitInfo{permit: permit})
			}
		})
	}
}

// TestStartupWithManyIdleQueues: a worker starts with 2,000 idle queues
// and one with work, 2 workflow pollers (which reserve before choosing the
// normal or the sticky queue) and 2 activity pollers on each, through
// [Budget.Tuner] with the default limits. The queue with work gets its
// workflow and activity slots within 2 s of fake time. (When a never-polled
// queue's first poll counted, those first polls aged out one budget at a
// time: 2,000 / 12 x 200 ms, about 33 s.)
func TestStartupWithManyIdleQueues(t *testing.T) {
	const queues, pollers = 2000, 2
	clk := newManualClock()
	b, err := NewBudget(12, withClock(clk), WithMeterProvider(noop.NewMeterProvider()))
	require.NoError(t, err)
	tuner, err := b.Tuner()
	require.NoError(t, err)
	wfs, acts := tuner.GetWorkflowTaskSlotSupplier(), tuner.GetActivityTaskSlotSupplier()
	stopWF := idleQueues(t, wfs, queues, pollers, enumspb.TASK_QUEUE_KIND_UNSPECIFIED)
	defer stopWF()
	stopAct := idleQueues(t, acts, queues, pollers, enumspb.TASK_QUEUE_KIND_NORMAL)
	defer stopAct()

	settled(b, 2*queues*pollers) // every idle queue's pollers came first
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := clk.Now()
	gotSlot := func(s worker.SlotSupplier, kind enumspb.TaskQueueKind) <-chan time.Time {
		at := make(chan time.Time, 1)
		go func() {
			permit, err := s.ReserveSlot(ctx, reserveInfo{queue: "work", kind: kind})
			if err != nil {
				return
			}
			s.MarkSlotUsed(markInfo{permit: permit}) // the queue has work: the poll brings it at once
			at <- clk.Now()
		}()
		return at
	}
	wf, act := gotSlot(wfs, enumspb.TASK_QUEUE_KIND_UNSPECIFIED), gotSlot(acts, enumspb.TASK_QUEUE_KIND_NORMAL)
	var wfAt, actAt time.Time
	for wfAt.IsZero() || actAt.IsZero() {
		settled(b, 2*queues*pollers)
		select {
		case wfAt = <-wf:
			continue
		case actAt = <-act:
			continue
		case <-time.After(10 * time.Millisecond):
		}
		require.Less(t, clk.Now().Sub(start), 2*time.Second,
			"the queue with work still has no slot (workflow at %v, activity at %v)", wfAt, actAt)
		clk.Advance(50 * time.Millisecond)
	}
	t.Logf("the queue with work got a workflow slot after %v and an activity slot after %v (fake time)",
		wfAt.Sub(start), actAt.Sub(start))
	require.Equal(t, 1, b.InUse())
}

// BenchmarkGrantRatio reports how much more a busy queue's grant costs
// beside 2,000 idle queues than beside 10 (the metric x2000/x10), both
// through [Budget.Tuner], measured in alternating batches of 100 cycles so
// that the load of a shared machine weighs on both alike. It reports; it
// asserts nothing.
func BenchmarkGrantRatio(b *testing.B) {
	ctx := context.Background()
	busy := reserveInfo{queue: "busy", kind: enumspb.TASK_QUEUE_KIND_NORMAL}
	setup := func(n int) worker.SlotSupplier {
		budget, err := NewBudget(12, WithMeterProvider(noop.NewMeterProvider()))
		require.NoError(b, err)
		tuner, err := budget.Tuner()
		require.NoError(b, err)
		s := tuner.GetActivityTaskSlotSupplier()
		b.Cleanup(idleQueues(b, s, n, 2, enumspb.TASK_QUEUE_KIND_NORMAL))
		settled(budget, 2*n)
		return s
	}
	few, many := setup(10), setup(2000)
	time.Sleep(DefaultIdlePollAfter + 50*time.Millisecond) // the first polls that counted age
	cycles := func(s worker.SlotSupplier) time.Duration {
		start := time.Now()
		for range 100 {
			permit, _ := s.ReserveSlot(ctx, busy)
			s.MarkSlotUsed(markInfo{permit: permit})
			s.ReleaseSlot(permitInfo{permit: permit})
		}
		return time.Since(start)
	}
	cycles(few)
	cycles(many)
	var tFew, tMany time.Duration
	b.ReportAllocs()
	for b.Loop() {
		tFew += cycles(few)
		tMany += cycles(many)
	}
	b.ReportMetric(float64(tMany)/float64(tFew), "x2000/x10")
	b.ReportMetric(float64(tFew)/float64(b.N*100), "ns/grant@10")
	b.ReportMetric(float64(tMany)/float64(b.N*100), "ns/grant@2000")
}
