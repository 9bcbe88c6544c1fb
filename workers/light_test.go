package workers

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// tokens returns the live light tokens of queue's activity key.
func tokens(p *pool, queue string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = p.clock.Now()
	return p.liveLightLocked(pollKey{queue: queue, kind: "activity"})
}

func TestLightCandidate(t *testing.T) {
	info := &workflow.Info{TaskQueueName: "saas.tenant.02", Priority: temporal.Priority{FairnessKey: "t7"}}
	own := lightKey{queue: "saas.tenant.02", fairnessKey: "t7"}
	for _, tc := range []struct {
		name      string
		replaying bool
		info      *workflow.Info
		opts      workflow.ActivityOptions
		want      lightKey
		ok        bool
	}{
		{name: "own queue, inherited key", info: info, want: own, ok: true},
		{name: "own queue named", info: info, opts: workflow.ActivityOptions{TaskQueue: "saas.tenant.02"}, want: own, ok: true},
		{name: "replaying", replaying: true, info: info, want: own},
		{name: "another queue", info: info, opts: workflow.ActivityOptions{TaskQueue: "saas.jobs.00"},
			want: lightKey{queue: "saas.jobs.00", fairnessKey: "t7"}},
		{name: "eager disabled", info: info, opts: workflow.ActivityOptions{DisableEagerExecution: true}, want: own},
		{name: "no key", info: &workflow.Info{TaskQueueName: "q"}, want: lightKey{queue: "q"}},
		{name: "the activity's own key", info: info,
			opts: workflow.ActivityOptions{Priority: temporal.Priority{FairnessKey: "t9"}},
			want: lightKey{queue: "saas.tenant.02", fairnessKey: "t9"}, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, ok := lightCandidate(tc.replaying, tc.info, tc.opts)
			require.Equal(t, tc.want, k)
			require.Equal(t, tc.ok, ok)
		})
	}
}

// TestLightActivitiesScheduled: a key with nothing running gets one token,
// not one per activity, until one of its activities starts or the token's
// time is up; a key with an activity running gets none.
func TestLightActivitiesScheduled(t *testing.T) {
	clk := newManualClock()
	p := newPool(4, testIdle, clk)
	p.headroom = 4
	l := newLightActivities(p)
	k := lightKey{queue: "q", fairnessKey: "t1"}

	require.True(t, l.scheduled(k))
	require.False(t, l.scheduled(k), "a token given, no activity of the key started yet")
	require.True(t, l.scheduled(lightKey{queue: "q", fairnessKey: "t2"}), "another key")
	require.Equal(t, 2, tokens(p, "q"))

	l.start(k)
	require.False(t, l.scheduled(k), "an activity of the key runs")
	l.end(k)
	require.True(t, l.scheduled(k), "nothing runs")
	require.False(t, l.scheduled(k))
	clk.Advance(lightTokenTTL)
	require.Zero(t, tokens(p, "q"), "unused tokens expire")
	require.True(t, l.scheduled(k), "and so does the mark of a token given")
	require.Equal(t, 1, tokens(p, "q"))

	l.start(k)
	l.start(k)
	l.end(k)
	require.False(t, l.scheduled(k), "one still runs")
	l.end(k)
	l.mu.Lock()
	require.Empty(t, l.running)
	l.mu.Unlock()
}

// headerReader records the light header an activity has.
type headerReader struct {
	interceptor.WorkerInterceptorBase
	interceptor.ActivityInboundInterceptorBase
	got string
}

func (r *headerReader) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	r.Next = next
	return r
}

func (r *headerReader) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	r.got = headerKey(interceptor.Header(ctx))
	return r.Next.ExecuteActivity(ctx, in)
}

// TestLightHeader: the workflow's interceptor gives the activity its
// fairness key in a header, for activities the server starts eagerly
// without the key it inherits from the workflow.
func TestLightHeader(t *testing.T) {
	require.Empty(t, headerKey(map[string]*commonpb.Payload{}))
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		ctx = workflow.WithPriority(ctx, temporal.Priority{FairnessKey: "t3"})
		return workflow.ExecuteActivity(ctx, "read").Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "wf"})
	env.RegisterActivityWithOptions(func(context.Context) error { return nil }, activity.RegisterOptions{Name: "read"})
	b, err := NewBudget(4, withClock(newManualClock()))
	require.NoError(t, err)
	r := &headerReader{}
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{b.light, r}})
	env.ExecuteWorkflow("wf")
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, "t3", r.got, "the workflow's interceptor wrote the key")
}

// TestLightInterceptor runs a workflow with the budget's interceptor in
// the SDK's test environment: an activity it schedules on its own queue
// for a key with nothing running gives its queue a token, and runs counted
// for its key; one for a key with an activity running, or to another
// queue, gives none.
func TestLightInterceptor(t *testing.T) {
	run := func(t *testing.T, b *Budget, key, queue string) (queueSeen string, runningSeen int) {
		t.Helper()
		env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
		env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
			ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, TaskQueue: queue})
			ctx = workflow.WithPriority(ctx, temporal.Priority{FairnessKey: key})
			return workflow.ExecuteActivity(ctx, "work").Get(ctx, nil)
		}, workflow.RegisterOptions{Name: "wf"})
		env.RegisterActivityWithOptions(func(ctx context.Context) error {
			queueSeen = activity.GetInfo(ctx).TaskQueue
			l := b.light.light
			l.mu.Lock()
			runningSeen = l.running[lightKey{queue: queueSeen, fairnessKey: key}]
			l.mu.Unlock()
			return nil
		}, activity.RegisterOptions{Name: "work"})
		env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{b.light}})
		env.ExecuteWorkflow("wf")
		require.NoError(t, env.GetWorkflowError())
		return queueSeen, runningSeen
	}
	newBudget := func(t *testing.T) *Budget {
		b, err := NewBudget(6, withClock(newManualClock()))
		require.NoError(t, err)
		return b
	}

	t.Run("light", func(t *testing.T) {
		b := newBudget(t)
		queue, running := run(t, b, "t1", "")
		require.Equal(t, 1, tokens(b.activities, queue), "a token for the workflow's queue")
		require.Equal(t, 1, running, "the activity runs counted for its key")
		b.light.light.mu.Lock()
		require.Empty(t, b.light.light.running, "and ends")
		b.light.light.mu.Unlock()
	})
	t.Run("key running", func(t *testing.T) {
		b := newBudget(t)
		queue, _ := run(t, b, "t1", "") // learn the test environment's queue
		b2 := newBudget(t)
		b2.light.light.start(lightKey{queue: queue, fairnessKey: "t1"})
		run(t, b2, "t1", "")
		require.Zero(t, tokens(b2.activities, queue), "the key has an activity running")
	})
	t.Run("another queue", func(t *testing.T) {
		b := newBudget(t)
		queue, _ := run(t, b, "t1", "elsewhere")
		require.Equal(t, "elsewhere", queue)
		b.activities.mu.Lock()
		require.Empty(t, b.activities.light)
		b.activities.mu.Unlock()
	})
	t.Run("no key", func(t *testing.T) {
		b := newBudget(t)
		_, running := run(t, b, "", "")
		require.Zero(t, running)
		b.activities.mu.Lock()
		require.Empty(t, b.activities.light)
		b.activities.mu.Unlock()
	})
}

// eagerRecorder records whether the activities a workflow schedules ask
// for eager execution, as the interceptors before it left their options.
type eagerRecorder struct {
	interceptor.WorkerInterceptorBase
	disabled []bool
}

func (r *eagerRecorder) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &eagerRecorderInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, r: r}
}

type eagerRecorderInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	r *eagerRecorder
}

func (i *eagerRecorderInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&eagerRecorderOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, r: i.r})
}

type eagerRecorderOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	r *eagerRecorder
}

func (o *eagerRecorderOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.r.disabled = append(o.r.disabled, workflow.GetActivityOptions(ctx).DisableEagerExecution)
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

// TestLightHeavyAsksNoEagerWhenFull: an activity whose key has activities
// running here asks for no eager slot while the budget's limit is full (it
// would be refused, and would use up another workflow's light token); with
// room, or for a light key, it still asks.
func TestLightHeavyAsksNoEagerWhenFull(t *testing.T) {
	run := func(t *testing.T, b *Budget, running bool) bool {
		t.Helper()
		env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
		env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
			if running {
				b.light.light.start(lightKey{queue: workflow.GetInfo(ctx).TaskQueueName, fairnessKey: "t1"})
			}
			ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
			ctx = workflow.WithPriority(ctx, temporal.Priority{FairnessKey: "t1"})
			return workflow.ExecuteActivity(ctx, "work").Get(ctx, nil)
		}, workflow.RegisterOptions{Name: "wf"})
		env.RegisterActivityWithOptions(func(context.Context) error { return nil }, activity.RegisterOptions{Name: "work"})
		r := &eagerRecorder{}
		// The SDK runs the first interceptor's workflow outbound innermost:
		// r sees the options b.light leaves.
		env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{r, b.light}})
		env.ExecuteWorkflow("wf")
		require.NoError(t, env.GetWorkflowError())
		require.Len(t, r.disabled, 1)
		return r.disabled[0]
	}
	full := func(t *testing.T) *Budget {
		b, err := NewBudget(2, withClock(newManualClock()))
		require.NoError(t, err)
		backlogged(b.activities, key(1))
		runTasks(t, b.activities, key(1), key(1))
		return b
	}
	roomy := func(t *testing.T) *Budget {
		b, err := NewBudget(2, withClock(newManualClock()))
		require.NoError(t, err)
		return b
	}
	require.True(t, run(t, full(t), true), "heavy, limit full: no eager request")
	require.False(t, run(t, roomy(t), true), "heavy, room: eager as ever")
	require.False(t, run(t, full(t), false), "light, limit full: eager, with its token")
}
