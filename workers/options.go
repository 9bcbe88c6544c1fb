package workers

import (
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/sdk/worker"

	"github.com/tqrouter/tqrouter/routing"
)

// Option configures a [Group] made by [New].
type Option func(*groupOptions)

type groupOptions struct {
	autoscaling *worker.PollerBehaviorAutoscalingOptions
	budget      *Budget
	class       Class
	classes     map[string]Class // queue → class, from WithQueueClass
	kinds       *routing.Table   // WithKindClasses
}

// Class is a set of queues that share a [Budget]'s contested capacity as
// one: when room is short, the next slot goes to the class with the fewest
// tasks running (weighed), then to its queue with the fewest. A
// deployment's kind is a natural class (a tenant kind's 64 shards get no
// more than a jobs kind's one queue), and a kind's overflow queues, which
// hold only tenants found flooding, another of weight 4.
type Class struct {
	// Name identifies the class within a budget: queues given the same
	// Name share one class, whatever group they belong to. An empty Name
	// is a class of the group's own.
	Name string
	// Weight is what each of the class's tasks counts for in the order
	// and in the fair share: a class of weight 4 gets a slot only while
	// its count is under a quarter of the others', and its share of the
	// limit is a quarter of a weight-1 class's. 0 means 1; negative is an
	// error. A named class keeps one weight per budget.
	Weight int
}

// WithPollerAutoscaling gives every worker of the group the SDK's poller
// autoscaling (worker.NewPollerBehaviorAutoscaling) for workflow and
// activity tasks, with o's settings; a zero InitialNumberOfPollers or
// MinimumNumberOfPollers is 1 here (the SDK's defaults are 5 and 1), so an
// idle queue holds one long poll per kind of task (two for workflow
// tasks: the normal and the sticky queue) instead of the SDK's fixed 2 + 2,
// and a busy one scales up to MaximumNumberOfPollers. With a [Budget] it
// also tells the budget which queue each workflow poll is for, so idle
// queues' workflow polls hold none of the workflow task limit (see
// docs/workers.md for the measured costs). [New] returns an error if opts
// also sets pollers (MaxConcurrent*TaskPollers or *TaskPollerBehavior).
func WithPollerAutoscaling(o worker.PollerBehaviorAutoscalingOptions) Option {
	return func(g *groupOptions) {
		if o.InitialNumberOfPollers == 0 {
			o.InitialNumberOfPollers = 1
		}
		if o.MinimumNumberOfPollers == 0 {
			o.MinimumNumberOfPollers = 1
		}
		g.autoscaling = &o
	}
}

// WithClass puts the group's queues in class c (except those given to
// [WithQueueClass]). Without it, the group's queues form a class of their
// own, of weight 1. It matters only with [WithBudget].
func WithClass(c Class) Option {
	return func(o *groupOptions) { o.class = c }
}

// WithQueueClass puts the given queues of the group in class c, for
// example a kind's overflow queues (routing.OverflowQueueName) in a class
// of weight 4 beside the kind's shards. [New] returns an error for a queue
// that is not one of the group's. It matters only with [WithBudget].
func WithQueueClass(c Class, queues ...string) Option {
	return func(o *groupOptions) {
		if o.classes == nil {
			o.classes = map[string]Class{}
		}
		for _, q := range queues {
			o.classes[q] = c
		}
	}
}

// OverflowClassWeight is the weight of a kind's overflow class under
// [WithKindClasses]: its queues hold only the tenants the router found
// flooding, so they get a slot only while their count is under a quarter
// of the other classes'.
const OverflowClassWeight = 4

// WithKindClasses gives each of the group's queues that table routes a
// class from its kind, as table's [routing.ParseTaskQueue] reads it: a
// kind's shard and pinned queues are the class named for the kind, its
// overflow queues the class kind+".overflow" of weight
// [OverflowClassWeight]. So a flood on a tenant kind's 64 shards gets no
// more of a full budget than a jobs kind's one queue, and the tenants found
// flooding use what the others leave. Queues given to [WithQueueClass] keep
// that class; queues table does not route are in the group's own class
// ([WithClass]). A nil table is ignored. It matters only with [WithBudget].
func WithKindClasses(table *routing.Table) Option {
	return func(o *groupOptions) {
		if table != nil {
			o.kinds = table
		}
	}
}

// kindClass is the class [WithKindClasses] gives queue, if table routes it.
func kindClass(table *routing.Table, queue string) (Class, bool) {
	d, ok := routing.ParseTaskQueue(table.Prefix(), queue)
	if !ok {
		return Class{}, false
	}
	if d.Role == routing.OverflowQueue {
		return Class{Name: string(d.Kind) + ".overflow", Weight: OverflowClassWeight}, true
	}
	return Class{Name: string(d.Kind)}, true
}

// WithBudget makes the group's workers share b: at most b.Limit()
// activities run at once across all the group's queues (and those of every
// other group given b), instead of worker.Options' limits per queue. It
// cannot be combined with a worker.Options Tuner or any
// MaxConcurrent*ExecutionSize: [New] returns an error. A nil b is ignored.
func WithBudget(b *Budget) Option {
	return func(o *groupOptions) {
		if b != nil {
			o.budget = b
		}
	}
}

// BudgetOption configures a [Budget] made by [NewBudget].
type BudgetOption func(*budgetOptions)

type budgetOptions struct {
	workflowLimit int
	headroom      *int // nil: DefaultHeadroom(limit)
	idleAfter     time.Duration
	meterProvider metric.MeterProvider
	clock         clock
}

// WithWorkflowTaskLimit sets how many workflow tasks may run at once; by
// default [DefaultWorkflowTaskLimit].
func WithWorkflowTaskLimit(n int) BudgetOption {
	return func(o *budgetOptions) { o.workflowLimit = n }
}

// WithIdlePollAfter sets how long a poll may wait for a task before it is
// taken for an idle queue's and stops counting against the budget (default
// [DefaultIdlePollAfter]). Shorter lends idle queues' capacity to busy ones
// sooner; longer makes it less likely that a poll slowed by load is taken
// for idle, which lets the budget be exceeded when it returns a task.
func WithIdlePollAfter(d time.Duration) BudgetOption {
	return func(o *budgetOptions) { o.idleAfter = d }
}

// WithHeadroom sets how many activities past the limit a kind under its
// fair share may start while the limit is full (by default
// [DefaultHeadroom], half the limit, rounded down). It lets a kind that
// was idle when another filled the limit start its work without waiting
// for the other's tasks to end;
// the kinds over their share start nothing until the count is back under
// the limit, so they pay the excess back. Running tasks never exceed
// limit + headroom; 0 keeps them within the limit. [WithStrictLimit] sets
// it to 0.
func WithHeadroom(n int) BudgetOption {
	return func(o *budgetOptions) { o.headroom = &n }
}

// WithStrictLimit makes the limit itself the bound: it is WithHeadroom(0),
// so of the two, the one given last wins. (Every budget holds a task that
// a poll taken for idle brings when its class may not take a slot: it
// waits in the worker, its timeouts running, until a task ends; see
// [Budget].)
func WithStrictLimit() BudgetOption { return WithHeadroom(0) }

// WithMeterProvider sets the meter provider of the budget's gauges
// (tqrouter.worker.budget.limit, .usage and .waiting, in {task}, with the
// attribute tqrouter.task.type "activity" or "workflow"); by default
// otel.GetMeterProvider(). A nil mp is ignored.
func WithMeterProvider(mp metric.MeterProvider) BudgetOption {
	return func(o *budgetOptions) {
		if mp != nil {
			o.meterProvider = mp
		}
	}
}

func defaultBudgetOptions() budgetOptions {
	return budgetOptions{
		workflowLimit: DefaultWorkflowTaskLimit,
		idleAfter:     DefaultIdlePollAfter,
		meterProvider: otel.GetMeterProvider(),
		clock:         realClock{},
	}
}

// withClock makes the budget use c (tests).
func withClock(c clock) BudgetOption {
	return func(o *budgetOptions) { o.clock = c }
}
