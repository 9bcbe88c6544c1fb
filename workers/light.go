package workers

import (
	"cmp"
	"context"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"
)

// Light activities: the part of a [Budget] that knows which fairness keys
// (tenants) run activities in this process, so that a workflow's activity
// whose key has nothing running on its queue here starts eagerly within
// the headroom (pool rule 6). The SDK asks the budget for an eager slot
// (SlotSupplier.TryReserveSlot) as a workflow task completes, for each
// activity the task schedules on the workflow's own queue; the request
// says nothing of the workflow, so the workflow's outbound interceptor
// gives the pool a light token for the queue just before.

// lightHeader carries an activity's fairness key, as its workflow saw it,
// to the activity: an activity that the server starts eagerly has only its
// own Priority, not the one it inherits from its workflow (server v1.32
// workflow_task_completed_handler.go), so its [activity.Info] may lack the
// key.
const lightHeader = "tqrouter-budget-fairness-key"

// lightKey is an activity's task queue and fairness key.
type lightKey struct{ queue, fairnessKey string }

// lightActivities counts the activities running in this process by task
// queue and fairness key, and gives the activity pool light tokens.
type lightActivities struct {
	pool *pool

	mu      sync.Mutex             // protects the fields below
	running map[lightKey]int       // activities running now
	pending map[lightKey]time.Time // a token given, until this time or until one of the key's activities starts
	sweepAt int                    // len(pending) at which expired entries are dropped
}

func newLightActivities(p *pool) *lightActivities {
	return &lightActivities{pool: p, running: map[lightKey]int{}, pending: map[lightKey]time.Time{}, sweepAt: 64}
}

// start counts an activity of k as running.
func (l *lightActivities) start(k lightKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running[k]++
	delete(l.pending, k)
}

// end counts an activity of k as ended.
func (l *lightActivities) end(k lightKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running[k]--; l.running[k] <= 0 {
		delete(l.running, k)
	}
}

// scheduled is told of an activity a workflow of this process schedules on
// its own queue, k being that queue and the activity's fairness key. If k
// has no activity running here, and no token given that none of its
// activities has followed yet, it gives the pool a light token for the
// queue and reports true. (So a flood's first workflows, which schedule
// their activities before any runs, take one token between them, not one
// each.)
func (l *lightActivities) scheduled(k lightKey) bool {
	now := l.pool.clock.Now()
	l.mu.Lock()
	if l.running[k] > 0 || now.Before(l.pending[k]) {
		l.mu.Unlock()
		return false
	}
	l.pending[k] = now.Add(lightTokenTTL)
	if len(l.pending) >= l.sweepAt {
		for pk, until := range l.pending {
			if !now.Before(until) {
				delete(l.pending, pk)
			}
		}
		l.sweepAt = max(64, 2*len(l.pending))
	}
	l.mu.Unlock()
	l.pool.addLight(pollKey{queue: k.queue, kind: "activity"})
	return true
}

// lightCandidate returns the light key of an activity a workflow schedules,
// and whether it may have a light token: not on replay (the activity was
// scheduled before), on the workflow's own queue (the SDK asks for eager
// slots only there), eager execution not disabled, and a fairness key (the
// activity's own, or else its workflow's, which the server gives it).
func lightCandidate(replaying bool, info *workflow.Info, opts workflow.ActivityOptions) (lightKey, bool) {
	k := lightKey{
		queue:       cmp.Or(opts.TaskQueue, info.TaskQueueName),
		fairnessKey: cmp.Or(opts.Priority.FairnessKey, info.Priority.FairnessKey),
	}
	ok := !replaying && k.queue == info.TaskQueueName && !opts.DisableEagerExecution && k.fairnessKey != ""
	return k, ok
}

// lightInterceptor is the worker interceptor of a [Group] with a budget:
// it counts running activities by queue and fairness key, and gives light
// tokens for the activities its workflows schedule.
type lightInterceptor struct {
	interceptor.WorkerInterceptorBase
	light *lightActivities
}

var _ interceptor.WorkerInterceptor = (*lightInterceptor)(nil)

func (i *lightInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	a := &lightActivityInbound{light: i.light}
	a.Next = next
	return a
}

func (i *lightInterceptor) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	w := &lightWorkflowInbound{light: i.light}
	w.Next = next
	return w
}

type lightActivityInbound struct {
	interceptor.ActivityInboundInterceptorBase
	light *lightActivities
}

// ExecuteActivity counts the activity as running for its queue and
// fairness key (from its Priority, or else from its header) while it runs.
// Local activities are not counted: they are the workflow's, not the
// queue's.
func (a *lightActivityInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	key := info.Priority.FairnessKey
	if key == "" {
		key = headerKey(interceptor.Header(ctx))
	}
	if info.IsLocalActivity || key == "" {
		return a.Next.ExecuteActivity(ctx, in)
	}
	k := lightKey{queue: info.TaskQueue, fairnessKey: key}
	a.light.start(k)
	defer a.light.end(k)
	return a.Next.ExecuteActivity(ctx, in)
}

type lightWorkflowInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	light *lightActivities
}

func (w *lightWorkflowInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	o := &lightWorkflowOutbound{light: w.light}
	o.Next = outbound
	return w.Next.Init(o)
}

type lightWorkflowOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	light *lightActivities
}

// ExecuteActivity writes the activity's fairness key into its header and,
// if the activity may start eagerly as a light one (lightCandidate), tells
// the budget it is scheduled. An activity that may not, whose key has
// activities running here, asks for no eager slot while the limit is full:
// the budget would refuse it, and the request would use up a light token
// given for another workflow of the queue completing its task at the same
// moment (the request does not say which workflow asks).
func (o *lightWorkflowOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	opts := workflow.GetActivityOptions(ctx)
	k, ok := lightCandidate(workflow.IsReplaying(ctx), workflow.GetInfo(ctx), opts)
	if h := interceptor.WorkflowHeader(ctx); h != nil && k.fairnessKey != "" {
		if p, err := converter.GetDefaultDataConverter().ToPayload(k.fairnessKey); err == nil {
			h[lightHeader] = p
		}
	}
	if ok && !o.light.scheduled(k) && o.light.pool.full() {
		opts.DisableEagerExecution = true
		ctx = workflow.WithActivityOptions(ctx, opts)
	}
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

// headerKey reads the fairness key lightWorkflowOutbound wrote, or "".
func headerKey(h map[string]*commonpb.Payload) string {
	var key string
	if p := h[lightHeader]; p != nil {
		if err := converter.GetDefaultDataConverter().FromPayload(p, &key); err != nil {
			return ""
		}
	}
	return key
}
