package workers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/sdk/worker"
)

// DefaultIdlePollAfter is how long a poll may wait for a task before
// [Budget] takes it for an idle queue's and stops counting it against the
// limit (see [WithIdlePollAfter]).
const DefaultIdlePollAfter = 200 * time.Millisecond

// DefaultWorkflowTaskLimit is a budget's limit of workflow tasks at once
// unless [WithWorkflowTaskLimit] sets one: the SDK's own default for one
// worker (MaxConcurrentWorkflowTaskExecutionSize), here for all the queues
// together. A workflow task holds its slot for milliseconds; a limit as
// small as a typical activity budget made the demo's workflow tasks queue
// behind each other (one waited about 10 s and doubled the noisy tenant's
// makespan).
const DefaultWorkflowTaskLimit = 1000

// defaultNexusSlots is the SDK's default for MaxConcurrentNexusTaskExecutionSize
// (sdk-go v1.51 internal_worker.go): Nexus tasks are not budgeted, and a
// Tuner must still supply them.
const defaultNexusSlots = 1000

// Budget is a limit on the tasks that the workers of one or more groups run
// at once, whatever queue the tasks come from. Capacity goes to the queues
// that have work: a queue without work holds none of it, and no queue with
// work is kept waiting by idle ones.
//
// It keeps two counts with the same rule, except that only activities
// have a headroom (below). Activities (activity tasks,
// local activities and session activities) count against the limit given
// to [NewBudget]; workflow tasks count against a limit of their own
// ([WithWorkflowTaskLimit], by default [DefaultWorkflowTaskLimit]), so that long
// activities never hold back the workflow tasks that complete workflows and
// schedule more activities. Nexus tasks are not budgeted.
//
// How it works: the SDK reserves a slot before each poll, and only learns
// whether the queue has work when the poll returns. Budget counts running
// tasks, plus polls younger than the idle-poll time (by default
// [DefaultIdlePollAfter]); it grants a poll while that count is under the
// limit. A poll that has waited longer is taken for an idle queue's: it
// stops counting, so idle queues' minute-long polls hold nothing. A queue
// whose last poll brought a task at once has a backlog and polls with all
// its pollers; any other activity queue has one poll out at a time, and an
// idle one (its last poll came back empty or brought a task only after
// waiting, and nothing of it is running) has that poll out at once,
// uncounted, so a task that reaches it starts without waiting for room.
//
// Who goes first when room is short: routed queues are grouped by their
// kind ([routing.SplitTaskQueue]), and a kind's overflow queues, which
// hold only the tenants the router found flooding, form a group of their
// own that weighs four times. The next free slot goes to the group with
// the fewest tasks running (weighed), so kinds share contested capacity
// equally however many queues each has: a flood of tenant work does not
// hold back the jobs kind, nor the reverse, and the flooding tenants use
// what the others leave, never starving. Within a group it goes to the
// queue with the fewest tasks running and polls out. A queue that is not
// routed (a legacy queue during a migration) is a group of its own.
//
// The headroom ([WithHeadroom], by default a third of the limit): when the limit
// is full, a group under its fair share of it (the limit split between the
// groups with work, by weight) may still start tasks, up to limit +
// headroom, while the groups over their share start nothing until the
// count is back under the limit. So a kind that was idle when a flood
// filled the limit starts its work at once instead of waiting for the
// flood's tasks to end, and the flood pays the excess back from its own
// next slots; the flood itself never goes past the limit.
//
// A poll taken for idle can still return a task, so the tasks running at
// once can exceed limit + headroom by the polls outstanding on idle
// queues: under steady load by none; when work reaches idle queues, by at
// most one per idle activity queue (one per poller for a queue whose
// backlog ran out within the last poll timeout). Eager activities and
// eager workflow starts are granted only within the limit.
// [WithStrictLimit] makes the limit hard: no headroom, and such tasks wait
// in the worker. Measured peaks are in the README (e2e/TestBudgetPeak).
//
// A Budget is safe for concurrent use and may be shared by several groups.
type Budget struct {
	activities *pool
	workflows  *pool
}

// NewBudget returns a budget of limit activities at once. limit must be
// positive.
func NewBudget(limit int, opts ...BudgetOption) (*Budget, error) {
	o := defaultBudgetOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("tqrouter: budget limit %d, want > 0", limit)
	}
	if o.workflowLimit <= 0 {
		return nil, fmt.Errorf("tqrouter: budget workflow task limit %d, want > 0", o.workflowLimit)
	}
	if o.headroom != nil && *o.headroom < 0 {
		return nil, fmt.Errorf("tqrouter: budget headroom %d, want >= 0", *o.headroom)
	}
	if o.idleAfter <= 0 {
		return nil, fmt.Errorf("tqrouter: budget idle-poll time %v, want > 0", o.idleAfter)
	}
	b := &Budget{
		activities: newPool(limit, o.idleAfter, o.clock),
		workflows:  newPool(o.workflowLimit, o.idleAfter, o.clock),
	}
	for _, p := range []*pool{b.activities, b.workflows} {
		p.strict, p.classify = o.strict, queueClass
	}
	switch {
	case o.strict:
	case o.headroom != nil:
		b.activities.headroom = *o.headroom
	default:
		b.activities.headroom = limit / 3
	}
	if err := b.registerMetrics(o.meterProvider); err != nil {
		return nil, err
	}
	return b, nil
}

// Limit returns how many activities may run at once.
func (b *Budget) Limit() int { return b.activities.limit }

// Headroom returns how many activities past the limit a kind under its
// fair share may start (see [WithHeadroom]).
func (b *Budget) Headroom() int { return b.activities.headroom }

// InUse returns how many activities are running now.
func (b *Budget) InUse() int { return b.activities.snapshot().used }

// Waiting returns how many activity polls (and, with [WithStrictLimit],
// tasks) are waiting for the budget to have room. Pollers of idle queues waiting for their queue's outstanding
// poll to return are not counted: they wait for work, not for capacity.
func (b *Budget) Waiting() int { return b.activities.snapshot().waiting }

// tuner returns a worker tuner drawing on b, for one worker.
func (b *Budget) tuner() (worker.WorkerTuner, error) {
	nexus, err := worker.NewFixedSizeSlotSupplier(defaultNexusSlots)
	if err != nil {
		return nil, err
	}
	return worker.NewCompositeTuner(worker.CompositeTunerOptions{
		WorkflowSlotSupplier:        &supplier{pool: b.workflows, kind: "workflow", mixed: true},
		ActivitySlotSupplier:        &supplier{pool: b.activities, kind: "activity"},
		LocalActivitySlotSupplier:   &supplier{pool: b.activities, kind: "local_activity"},
		SessionActivitySlotSupplier: &supplier{pool: b.activities, kind: "session_activity"},
		NexusSlotSupplier:           nexus,
	})
}

// Metric names of a Budget's gauges (unit {task}), and their one attribute.
const (
	MetricBudgetLimit   = "tqrouter.worker.budget.limit"
	MetricBudgetUsage   = "tqrouter.worker.budget.usage"
	MetricBudgetWaiting = "tqrouter.worker.budget.waiting"
	// AttrTaskType is "activity" or "workflow".
	AttrTaskType = attribute.Key("tqrouter.task.type")
)

// ScopeName is the instrumentation scope of the package's meters.
const ScopeName = "github.com/tqrouter/tqrouter/workers"

func (b *Budget) registerMetrics(mp metric.MeterProvider) error {
	m := mp.Meter(ScopeName)
	limit, err1 := m.Int64ObservableGauge(MetricBudgetLimit, metric.WithUnit("{task}"),
		metric.WithDescription("Tasks the workers' budget lets run at once."))
	usage, err2 := m.Int64ObservableGauge(MetricBudgetUsage, metric.WithUnit("{task}"),
		metric.WithDescription("Tasks running under the workers' budget."))
	waiting, err3 := m.Int64ObservableGauge(MetricBudgetWaiting, metric.WithUnit("{task}"),
		metric.WithDescription("Polls waiting for room in the workers' budget."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("tqrouter: budget metrics: %w", err)
	}
	activity := metric.WithAttributes(AttrTaskType.String("activity"))
	workflow := metric.WithAttributes(AttrTaskType.String("workflow"))
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, p := range []struct {
			pool *pool
			attr metric.ObserveOption
		}{{b.activities, activity}, {b.workflows, workflow}} {
			s := p.pool.snapshot()
			o.ObserveInt64(limit, int64(p.pool.limit), p.attr)
			o.ObserveInt64(usage, int64(s.used), p.attr)
			o.ObserveInt64(waiting, int64(s.waiting), p.attr)
		}
		return nil
	}, limit, usage, waiting)
	if err != nil {
		return fmt.Errorf("tqrouter: budget metrics: %w", err)
	}
	return nil
}

// supplier is the SDK's view of one pool for one kind of poller. Polls are
// told apart per (task queue, kind), so a local activity poller, which
// waits in the worker for work rather than on the server, never holds back
// the same queue's activity pollers.
type supplier struct {
	pool  *pool
	kind  string
	mixed bool // see pollKey
}

var _ worker.SlotSupplier = (*supplier)(nil)

func (s *supplier) ReserveSlot(ctx context.Context, info worker.SlotReservationInfo) (*worker.SlotPermit, error) {
	g, err := s.pool.reserve(ctx, pollKey{queue: info.TaskQueue(), kind: s.kind, mixed: s.mixed})
	if err != nil {
		return nil, err
	}
	return &worker.SlotPermit{UserData: g}, nil
}

func (s *supplier) TryReserveSlot(info worker.SlotReservationInfo) *worker.SlotPermit {
	g := s.pool.tryReserve(pollKey{queue: info.TaskQueue(), kind: s.kind, mixed: s.mixed})
	if g == nil {
		return nil
	}
	return &worker.SlotPermit{UserData: g}
}

func (s *supplier) MarkSlotUsed(info worker.SlotMarkUsedInfo) {
	if g, ok := info.Permit().UserData.(*grant); ok {
		s.pool.markUsed(g)
	}
}

func (s *supplier) ReleaseSlot(info worker.SlotReleaseInfo) {
	if g, ok := info.Permit().UserData.(*grant); ok {
		s.pool.release(g)
	}
}

func (s *supplier) MaxSlots() int { return s.pool.limit }
