package workers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	enumspb "go.temporal.io/api/enums/v1"
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
// have a headroom (below). Activities (activity tasks, local activities and
// session activities) count against the limit given to [NewBudget];
// workflow tasks count against a limit of their own
// ([WithWorkflowTaskLimit], by default [DefaultWorkflowTaskLimit]), so
// that long activities never hold back the workflow tasks that complete
// workflows and schedule more activities. Nexus tasks are not budgeted.
//
// How it works: the SDK reserves a slot before each poll, and only learns
// whether the queue has work when the poll returns. Budget counts running
// tasks, plus polls younger than the idle-poll time (by default
// [DefaultIdlePollAfter]); it grants a poll while that count is under the
// limit. A poll that has waited longer is taken for an idle queue's: it
// stops counting, so idle queues' minute-long polls hold nothing. An idle
// queue (its last poll came back empty or late, and nothing of it runs)
// has one poll out at once, uncounted, so a task that reaches it starts
// without waiting for room. A queue never polled has its first poll
// counted while the budget has room, and uncounted once it is full, so a
// worker that starts with thousands of idle queues has a poll on each at
// once and finds the one with work. A queue whose last poll brought a task
// at once has a backlog and polls with all its pollers, counted.
//
// Who goes first when room is short: every queue belongs to a [Class],
// given by the group that polls it ([WithClass], [WithQueueClass]; each
// group, and each [Budget.Tuner], is a class of its own by default). The
// next free slot goes to the class with the fewest tasks running (or on
// their way, eager) and young polls, weighed by its [Class.Weight], so classes share contested
// capacity by weight however many queues each has; within a class, to the
// queue with the fewest. This policy is one short, documented piece of the
// package (policy.go).
//
// The headroom ([WithHeadroom], by default half the limit,
// [DefaultHeadroom]): when the
// limit is full, a class under its fair share of it (the limit split
// between the classes with work, by weight) may still start tasks, up to
// limit + headroom, while the classes over their share start nothing until
// the count is back under the limit. So a kind that was idle when a flood
// filled the limit starts its work at once instead of waiting for the
// flood's tasks to end, and the flood pays the excess back from its own
// next slots; the flood itself never goes past the limit.
//
// The bound: activities running ≤ limit + headroom, always, tasks from
// polls taken for idle included. Such a poll can still return a task; the
// task starts if its class could take a slot (under the limit, or in the
// headroom while under its share) or, within the headroom, if its queue
// has nothing running, and otherwise waits in the worker, its timeouts
// running, ahead of every poll, until it can. So an idle queue's first
// task starts at once while there is headroom, and a flood's tasks from
// polls that aged wait for the flood's own slots.
// So a fleet of worker processes, each with a budget of its share of the
// slots and the default headroom, runs at most 1.5 times the slots in
// all, however many processes and idle queues. Eager activities
// and eager workflow starts are granted only within the limit, except
// that a workflow's activity whose fairness key has nothing running on its
// queue in this process starts eagerly within the headroom: a [Group]'s
// workers tell the budget when their workflows schedule such an activity
// on their own queue, and the eager slot the SDK then asks for may go up
// to limit + headroom (so a quiet tenant that shares a shard queue with a
// flood starts its activity at once; plain workers on [Budget.Tuner] do
// not take part, and the server must grant eager activities). Workflow
// tasks have no headroom: their limit is the bound. Tests: TestPoolBound
// (unit, random events), TestFleetBound (W budgets), e2e TestBudgetPeak
// (real server).
//
// Lifecycle: a Budget needs no start. [Budget.Close] unregisters its
// gauges; call it once the workers that use it have stopped (it does not
// stop them, and the budget keeps limiting whatever still uses it). A
// budget that is dropped without Close stays reachable from the meter
// provider, and its gauges are still collected.
//
// A Budget is safe for concurrent use and may be shared by several groups
// and plain SDK workers ([Budget.Tuner]).
type Budget struct {
	activities *pool
	workflows  *pool
	light      *lightInterceptor // of the groups' workers: see light.go

	mu           sync.Mutex // protects the fields below
	registration metric.Registration
	classes      map[string]int // named class → weight
}

// NewBudget returns a budget of limit activities at once. limit must be
// positive, and limit plus its headroom must fit in an int.
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
	headroom := DefaultHeadroom(limit)
	if o.headroom != nil {
		headroom = *o.headroom
	}
	if headroom > math.MaxInt-limit {
		return nil, fmt.Errorf("tqrouter: budget limit %d plus headroom %d overflows int", limit, headroom)
	}
	b := &Budget{
		activities: newPool(limit, o.idleAfter, o.clock),
		workflows:  newPool(o.workflowLimit, o.idleAfter, o.clock),
		classes:    map[string]int{},
	}
	b.activities.headroom = headroom
	b.light = &lightInterceptor{light: newLightActivities(b.activities)}
	if err := b.registerMetrics(o.meterProvider); err != nil {
		return nil, err
	}
	return b, nil
}

// Limit returns how many activities may run at once.
func (b *Budget) Limit() int { return b.activities.limit }

// DefaultHeadroom is the headroom of a budget of limit activities made
// without [WithHeadroom]: half the limit, rounded down, so a fleet of
// budgets runs at most 1.5 times its limits in all. Half, not less, so
// that a quiet tenant's activity on a flooded shard finds a slot: with a
// third, the demo's shard-mates missed 20x in 5 of 10 runs of fairness
// alone, all for a full headroom; with half, 1 of 10 (BENCHMARKS.md,
// "Fairness alone with light activities").
func DefaultHeadroom(limit int) int { return limit / 2 }

// Headroom returns how many activities past the limit a class under its
// fair share may start (see [WithHeadroom]).
func (b *Budget) Headroom() int { return b.activities.headroom }

// InUse returns how many activities are running now.
func (b *Budget) InUse() int { return b.activities.snapshot().used }

// Waiting returns how many activity polls, and tasks that polls taken for
// idle brought, are waiting for the budget to have room. Pollers of idle queues
// waiting for their queue's outstanding poll to return are not counted:
// they wait for work, not for capacity.
func (b *Budget) Waiting() int { return b.activities.snapshot().waiting }

// Close unregisters the budget's gauges from its meter provider. It does
// not stop the workers that use the budget, which keeps limiting them:
// call it after they have stopped. It is safe to call more than once.
func (b *Budget) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.registration == nil {
		return nil
	}
	err := b.registration.Unregister()
	b.registration = nil
	if err != nil {
		return fmt.Errorf("tqrouter: budget metrics: %w", err)
	}
	return nil
}

// Tuner returns a worker tuner that draws on b, for a plain SDK worker
// (worker.Options.Tuner). The worker's queues (its task queue and its
// sticky queue) form a class of their own, of weight 1, as the queues of a
// [Group] without [WithClass] do; Nexus tasks get the SDK's default fixed
// number of slots. Each call returns a tuner of a new class: give each
// worker its own.
func (b *Budget) Tuner() (worker.WorkerTuner, error) {
	return b.tuner(Class{})
}

// tuner returns a worker tuner drawing on b whose new queues join class c.
func (b *Budget) tuner(c Class) (worker.WorkerTuner, error) {
	if c.Weight < 0 {
		return nil, fmt.Errorf("tqrouter: class %q weight %d, want >= 0", c.Name, c.Weight)
	}
	weight := max(c.Weight, 1)
	if c.Name != "" {
		b.mu.Lock()
		w, ok := b.classes[c.Name]
		if !ok {
			b.classes[c.Name] = weight
		}
		b.mu.Unlock()
		if ok && w != weight {
			return nil, fmt.Errorf("tqrouter: class %q has weight %d in this budget, not %d", c.Name, w, weight)
		}
	}
	activities, workflows := b.activities.class(c.Name, weight), b.workflows.class(c.Name, weight)
	nexus, err := worker.NewFixedSizeSlotSupplier(defaultNexusSlots)
	if err != nil {
		return nil, err
	}
	return worker.NewCompositeTuner(worker.CompositeTunerOptions{
		WorkflowSlotSupplier:        &supplier{pool: b.workflows, class: workflows, kind: "workflow", workflow: true},
		ActivitySlotSupplier:        &supplier{pool: b.activities, class: activities, kind: "activity"},
		LocalActivitySlotSupplier:   &supplier{pool: b.activities, class: activities, kind: "local_activity"},
		SessionActivitySlotSupplier: &supplier{pool: b.activities, class: activities, kind: "session_activity"},
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
		metric.WithDescription("Polls, and tasks from idle queues' polls, waiting for room in the workers' budget."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("tqrouter: budget metrics: %w", err)
	}
	activity := metric.WithAttributes(AttrTaskType.String("activity"))
	workflow := metric.WithAttributes(AttrTaskType.String("workflow"))
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
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
	b.registration = reg
	b.registration = reg
	return nil
}

// supplier is the SDK's view of one pool for one kind of poller of one
// class. Polls are told apart per (task queue, kind), so a local activity
// poller, which waits in the worker for work rather than on the server,
// never holds back the same queue's activity pollers.
type supplier struct {
	pool     *pool
	class    *classState // of the queues new to the pool
	kind     string
	workflow bool // see key
}

var _ worker.SlotSupplier = (*supplier)(nil)

// key returns the poll key of a reservation. A workflow poller reserves
// before it picks the normal or the sticky queue unless the SDK says which
// (TaskQueueKind, with poller autoscaling): then its key is that queue's;
// else it is mixed.
func (s *supplier) key(info worker.SlotReservationInfo) pollKey {
	k := pollKey{queue: info.TaskQueue(), kind: s.kind}
	if s.workflow {
		switch info.TaskQueueKind() {
		case enumspb.TASK_QUEUE_KIND_NORMAL:
		case enumspb.TASK_QUEUE_KIND_STICKY:
			k.kind = "workflow_sticky"
		default:
			k.mixed = true
		}
	}
	return k
}

func (s *supplier) ReserveSlot(ctx context.Context, info worker.SlotReservationInfo) (*worker.SlotPermit, error) {
	g, err := s.pool.reserve(ctx, s.key(info), s.class)
	if err != nil {
		return nil, err
	}
	return &worker.SlotPermit{UserData: g}, nil
}

func (s *supplier) TryReserveSlot(info worker.SlotReservationInfo) *worker.SlotPermit {
	g := s.pool.tryReserve(s.key(info), s.class)
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

// MaxSlots returns 0, the SDK's "no well-defined upper limit": the slots a
// budget issues are its counted ones plus one uncounted poll per idle
// queue and kind, however many queues share it. (The limit on running
// tasks is [Budget.Limit].)
func (s *supplier) MaxSlots() int { return 0 }
