package workers

import (
	"context"
	enumspb "go.temporal.io/api/enums/v1"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.temporal.io/sdk/worker"
)

func TestNewBudgetValidates(t *testing.T) {
	for _, tc := range []struct {
		limit int
		opts  []BudgetOption
	}{
		{limit: 0},
		{limit: -1},
		{limit: 1, opts: []BudgetOption{WithWorkflowTaskLimit(0)}},
		{limit: 1, opts: []BudgetOption{WithIdlePollAfter(0)}},
		{limit: 1, opts: []BudgetOption{WithHeadroom(-1)}},
		{limit: math.MaxInt}, // + its default headroom overflows
		{limit: math.MaxInt - 1, opts: []BudgetOption{WithHeadroom(2)}}, // so does this sum
	} {
		_, err := NewBudget(tc.limit, tc.opts...)
		require.ErrorContains(t, err, "tqrouter: ")
	}
	b, err := NewBudget(math.MaxInt, WithStrictLimit())
	require.NoError(t, err, "no headroom: the limit alone fits")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g, err := b.activities.reserve(ctx, pollKey{queue: "q", kind: "activity", mixed: true}, b.activities.class("", 1))
	require.NoError(t, err, "a reservation under the largest limit is granted")
	b.activities.release(g)

	b, err = NewBudget(3, WithMeterProvider(nil))
	require.NoError(t, err)
	require.Equal(t, 3, b.Limit())
	require.Equal(t, DefaultWorkflowTaskLimit, b.workflows.limit, "workflow tasks default to the SDK's limit of one worker")
	for _, tc := range []struct {
		limit, headroom int
		opts            []BudgetOption
	}{
		{12, 6, nil}, // half the limit
		{3, 1, nil}, {2, 1, nil}, {1, 0, nil},
		{12, 0, []BudgetOption{WithHeadroom(0)}},
		{12, 20, []BudgetOption{WithHeadroom(20)}},
		{12, 0, []BudgetOption{WithHeadroom(20), WithStrictLimit()}},
		{12, 20, []BudgetOption{WithStrictLimit(), WithHeadroom(20)}}, // it is WithHeadroom(0): the last wins
	} {
		b, err := NewBudget(tc.limit, tc.opts...)
		require.NoError(t, err)
		require.Equal(t, tc.headroom, b.Headroom())
		require.Zero(t, b.workflows.headroom, "workflow tasks have none")
	}
}

// TestBudgetGauges reads the budget's gauges through the OpenTelemetry SDK.
func TestBudgetGauges(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	clk := newManualClock()
	b, err := NewBudget(2, WithWorkflowTaskLimit(5), WithHeadroom(0), WithMeterProvider(mp), withClock(clk), WithIdlePollAfter(testIdle))
	require.NoError(t, err)

	backlogged(b.activities, key(1), key(2), key(3))
	running := reserveAsync(b.activities, key(1))
	young := reserveAsync(b.activities, key(2))
	waitFor(t, "granted", func() bool { return granted(running) && granted(young) })
	b.activities.markUsed(running.g)
	waiting := reserveAsync(b.activities, key(3))
	waitFor(t, "waiting", func() bool { return b.Waiting() == 1 })
	wf := reserveAsync(b.workflows, pollKey{queue: "q01", kind: "workflow"})
	waitFor(t, "granted", func() bool { return granted(wf) })
	b.workflows.markUsed(wf.g)
	require.Equal(t, 1, b.InUse())

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	require.Equal(t, ScopeName, rm.ScopeMetrics[0].Scope.Name)
	got := map[string]map[string]int64{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		require.Equal(t, "{task}", m.Unit, m.Name)
		gauge, ok := m.Data.(metricdata.Gauge[int64])
		require.True(t, ok, m.Name)
		got[m.Name] = map[string]int64{}
		for _, dp := range gauge.DataPoints {
			require.Equal(t, 1, dp.Attributes.Len(), "only the task type: no queue, no tenant")
			typ, ok := dp.Attributes.Value(AttrTaskType)
			require.True(t, ok)
			got[m.Name][typ.AsString()] = dp.Value
		}
	}
	require.Equal(t, map[string]map[string]int64{
		MetricBudgetLimit:   {"activity": 2, "workflow": 5},
		MetricBudgetUsage:   {"activity": 1, "workflow": 1},
		MetricBudgetWaiting: {"activity": 1, "workflow": 0},
	}, got)

	b.activities.release(young.g)
	waitFor(t, "granted", func() bool { return granted(waiting) })
	for _, g := range []*grant{running.g, waiting.g} {
		b.activities.release(g)
	}
	b.workflows.release(wf.g)
	require.Zero(t, b.InUse())
	require.Zero(t, b.Waiting())
}

// Fakes of the SDK's reservation infos: only what the supplier reads.
type reserveInfo struct {
	worker.SlotReservationInfo
	queue string
	kind  enumspb.TaskQueueKind // UNSPECIFIED: a workflow poller that may poll either queue
}

func (i reserveInfo) TaskQueue() string                    { return i.queue }
func (i reserveInfo) TaskQueueKind() enumspb.TaskQueueKind { return i.kind }

type permitInfo struct {
	worker.SlotReleaseInfo
	permit *worker.SlotPermit
}

func (i permitInfo) Permit() *worker.SlotPermit { return i.permit }

type markInfo struct {
	worker.SlotMarkUsedInfo
	permit *worker.SlotPermit
}

func (i markInfo) Permit() *worker.SlotPermit { return i.permit }

// TestSupplierKinds drives the tuner the way the SDK does: per queue,
// activity and local activity polls are told apart, workflow polls are
// never held behind their queue's idle poll, and eager slots come only
// from the budget's room.
func TestSupplierKinds(t *testing.T) {
	clk := newManualClock()
	b, err := NewBudget(3, WithWorkflowTaskLimit(3), withClock(clk), WithIdlePollAfter(testIdle), WithMeterProvider(noop.NewMeterProvider()))
	require.NoError(t, err)
	tuner, err := b.Tuner()
	require.NoError(t, err)
	ctx := context.Background()
	q := reserveInfo{queue: "q"}

	act, err := tuner.GetActivityTaskSlotSupplier().ReserveSlot(ctx, q)
	require.NoError(t, err)
	la, err := tuner.GetLocalActivitySlotSupplier().ReserveSlot(ctx, q)
	require.NoError(t, err, "a local activity poll is not held behind the activity poll")
	clk.Advance(testIdle) // both idle: they stop counting

	wfs := tuner.GetWorkflowTaskSlotSupplier()
	var wf []*worker.SlotPermit
	for range 3 {
		p, err := wfs.ReserveSlot(ctx, q)
		require.NoError(t, err, "workflow polls of one queue are not held")
		wf = append(wf, p)
	}
	require.Nil(t, wfs.TryReserveSlot(q), "no room for an eager workflow task")

	eager := tuner.GetActivityTaskSlotSupplier().TryReserveSlot(q)
	require.NotNil(t, eager, "idle polls leave room for an eager activity")
	tuner.GetActivityTaskSlotSupplier().MarkSlotUsed(markInfo{permit: eager})
	tuner.GetActivityTaskSlotSupplier().MarkSlotUsed(markInfo{permit: act})
	require.Equal(t, 2, b.InUse())

	for _, p := range []*worker.SlotPermit{act, eager} {
		tuner.GetActivityTaskSlotSupplier().ReleaseSlot(permitInfo{permit: p})
	}
	tuner.GetLocalActivitySlotSupplier().ReleaseSlot(permitInfo{permit: la})
	for _, p := range wf {
		wfs.ReleaseSlot(permitInfo{permit: p})
	}
	require.Equal(t, poolSnapshot{}, b.activities.snapshot())
	require.Equal(t, poolSnapshot{}, b.workflows.snapshot())
	require.Zero(t, tuner.GetActivityTaskSlotSupplier().MaxSlots(), "no well-defined upper limit on slots issued")
}

// TestBudgetCloseUnregistersGauges: after Close, a collection no longer
// observes the budget (nor keeps calling its callback).
func TestBudgetCloseUnregistersGauges(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	b, err := NewBudget(2, WithMeterProvider(mp))
	require.NoError(t, err)
	points := func() int {
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		n := 0
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				n += len(m.Data.(metricdata.Gauge[int64]).DataPoints)
			}
		}
		return n
	}
	require.Equal(t, 6, points(), "3 gauges x 2 task types")
	require.NoError(t, b.Close())
	require.Zero(t, points())
	require.NoError(t, b.Close(), "Close is idempotent")
}

// TestSupplierTaskQueueKind: a workflow poll whose queue the SDK names
// (poller autoscaling) is keyed by that queue, so an idle sticky or normal
// queue has one poll out; one it does not name (simple maximum pollers) is
// mixed, never held.
func TestSupplierTaskQueueKind(t *testing.T) {
	b, err := NewBudget(3, WithMeterProvider(noop.NewMeterProvider()))
	require.NoError(t, err)
	tuner, err := b.Tuner()
	require.NoError(t, err)
	s := tuner.GetWorkflowTaskSlotSupplier().(*supplier)
	for kind, want := range map[enumspb.TaskQueueKind]pollKey{
		enumspb.TASK_QUEUE_KIND_NORMAL:      {queue: "q", kind: "workflow"},
		enumspb.TASK_QUEUE_KIND_STICKY:      {queue: "q", kind: "workflow_sticky"},
		enumspb.TASK_QUEUE_KIND_UNSPECIFIED: {queue: "q", kind: "workflow", mixed: true},
	} {
		require.Equal(t, want, s.key(reserveInfo{queue: "q", kind: kind}), kind.String())
	}
	ctx := context.Background()
	sticky := reserveInfo{queue: "q", kind: enumspb.TASK_QUEUE_KIND_STICKY}
	first, err := s.ReserveSlot(ctx, sticky)
	require.NoError(t, err)
	second := make(chan *worker.SlotPermit, 1)
	go func() {
		p, _ := s.ReserveSlot(ctx, sticky)
		second <- p
	}()
	require.Never(t, func() bool { return len(second) > 0 }, 50*time.Millisecond, time.Millisecond)
	require.Equal(t, poolSnapshot{young: 1}, b.workflows.snapshot(), "a new sticky queue: one poll; its other poller waits for it, not for room")
	s.ReleaseSlot(permitInfo{permit: first}) // empty
	s.ReleaseSlot(permitInfo{permit: <-second})
	require.Equal(t, poolSnapshot{}, b.workflows.snapshot())
}
