package interceptor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// Fleet-wide isolation (docs/fleet.md): a process suspects a tenant from
// its own starts, and the server's view of the tenant's shard queue, which
// every process's starts reach, confirms it. The view is asked for off the
// start path, by a goroutine, at most askRate times a second per process.

// BacklogFunc returns how many workflow tasks wait in the task queue named
// taskQueue, as the server sees them: the starts of every client process
// that reach the queue. It is called off the start path, with a timeout,
// and must return when ctx is done; an error means "unknown", and the
// router counts the starts it sees on its own, as without it. See [WithBacklogFunc] and [Router.AttachClient].
type BacklogFunc func(ctx context.Context, taskQueue string) (int64, error)

// WithBacklogFunc gives the router a way to learn a shard queue's backlog
// on the server, for fleet-wide hot-tenant isolation (see [HotTenants]);
// [Router.AttachClient] gives it the client's own. A nil f is ignored.
func WithBacklogFunc(f BacklogFunc) Option {
	return optionFunc(func(o *options) {
		if f != nil {
			o.backlog = f
		}
	})
}

// AttachClient lets the router ask the server, through c, how backlogged a
// suspected tenant's shard queue is, so that a flood spread over many
// client processes is isolated about as soon as one seen by a single
// process (see [HotTenants] and docs/fleet.md). Call it once c is dialled
// with the router in its Interceptors; namespace is c's namespace ("" is
// "default"). Each process then sends at most 5 DescribeTaskQueue requests
// a second, and none while no tenant is suspected. A nil c detaches the
// client: the router counts alone again. Without hot-tenant isolation it
// does nothing. It is safe to call at any time.
func (r *Router) AttachClient(c client.Client, namespace string) {
	if r.hot == nil {
		return
	}
	if c == nil {
		r.hot.fleet.source.Store(nil)
		return
	}
	if namespace == "" {
		namespace = "default"
	}
	f := BacklogFunc(func(ctx context.Context, queue string) (int64, error) {
		return describeBacklog(ctx, c.WorkflowService(), namespace, queue)
	})
	r.hot.fleet.source.Store(&f)
}

// describeBacklog asks the server for queue's backlog: the larger of its
// workflow task backlog and its activity task backlog, asked for at once.
// Both count, because a flood waits where its work is slow: a flood of
// workflows whose activities take seconds queues activity tasks while its
// workflow tasks, each done in milliseconds, barely queue at all. For each
// type the answer is the larger of two counts the server keeps (server
// v1.32, service/matching): the whole queue's, summed over its partitions,
// which the root partition caches for matching.TaskQueueInfoByBuildIdTTL
// (5 s by default), and the root partition's own, read live. A new flood
// shows in the second at once, as about 1/P of its backlog on P
// partitions; in the first within 5 s.
func describeBacklog(ctx context.Context, svc workflowservice.WorkflowServiceClient, namespace, queue string) (int64, error) {
	type answer struct {
		n   int64
		err error
	}
	activities := make(chan answer, 1)
	go func() {
		n, err := describeTypeBacklog(ctx, svc, namespace, queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		activities <- answer{n, err}
	}()
	n, err := describeTypeBacklog(ctx, svc, namespace, queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	a := <-activities
	if err = errors.Join(err, a.err); err != nil {
		return 0, err
	}
	return max(n, a.n), nil
}

// describeTypeBacklog is one DescribeTaskQueue for one task type of queue.
func describeTypeBacklog(ctx context.Context, svc workflowservice.WorkflowServiceClient, namespace, queue string, typ enumspb.TaskQueueType) (int64, error) {
	resp, err := svc.DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace:     namespace,
		TaskQueue:     &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: typ,
		ReportStats:   true,
		//nolint:staticcheck // SA1019: the only live count the server gives
		IncludeTaskQueueStatus: true,
	})
	if err != nil {
		return 0, err
	}
	//nolint:staticcheck // SA1019: see above
	live := resp.GetTaskQueueStatus().GetBacklogCountHint()
	return max(resp.GetStats().GetApproximateBacklogCount(), live), nil
}

// The bound on the server's view's questions, per process (each question
// is two DescribeTaskQueue requests, one per task type): a token bucket
// of askBurst tokens refilled at askRate a second, one request in flight
// per shard queue, each with askTimeout.
const (
	askRate    = 5
	askBurst   = 5
	askTimeout = 2 * time.Second
)

// fleet is the detector's access to the server's view of its shards.
type fleet struct {
	source  atomic.Pointer[BacklogFunc] // nil: count alone
	backlog int64                       // HotTenants.Backlog
	refresh time.Duration               // HotTenants.Refresh

	// Guarded by the detector's mu.
	tokens   float64
	tokensAt time.Time

	asks     sync.WaitGroup // requests in flight; tests wait for them
	answered func(error)    // called with each request's outcome, if set
}

// view is the server's last answer about one shard queue.
type view struct {
	backlog int64
	at      time.Time // when the answer came
	ok      bool      // the server answered
	asking  bool      // a request is in flight
}

func (f *fleet) init(cfg HotTenants) {
	f.backlog, f.refresh = cfg.Backlog, cfg.Refresh
	f.tokens = askBurst
}

// flooded reports whether the server said, less than Refresh ago, that the
// shard's backlog reached Backlog.
func (f *fleet) flooded(sh *shard, now time.Time) bool {
	v := sh.view
	return f.source.Load() != nil && v.ok && v.backlog >= f.backlog && now.Sub(v.at) < f.refresh
}

// maybeAsk asks the server about a shard queue, in the background, if it
// can: a source is attached, no request about the queue is in flight, and
// the process's bucket has a token. A suspect start finds the view stale
// or not flooded (else it would have been isolated), so each asks again:
// a flood's backlog grows between two of its starts.
func (f *fleet) maybeAsk(d *detector, sh *shard, queue string, now time.Time) {
	src := f.source.Load()
	if src == nil || sh.view.asking {
		return
	}
	if f.tokensAt.IsZero() {
		f.tokensAt = now
	}
	if dt := now.Sub(f.tokensAt); dt > 0 { // a clock that steps back refills nothing
		f.tokens = min(askBurst, f.tokens+dt.Seconds()*askRate)
		f.tokensAt = now
	}
	if f.tokens < 1 {
		return
	}
	f.tokens--
	sh.view.asking = true
	f.asks.Add(1)
	go f.ask(d, sh, queue, *src)
}

// ask runs one request and records its answer.
func (f *fleet) ask(d *detector, sh *shard, queue string, src BacklogFunc) {
	defer f.asks.Done()
	n, err := callBacklog(src, queue)
	if f.answered != nil {
		f.answered(err)
	}
	now := d.now()
	d.mu.Lock()
	sh.view = view{backlog: n, at: now, ok: err == nil}
	d.mu.Unlock()
}

// errBacklogPanic is the error of a BacklogFunc that panicked.
var errBacklogPanic = errors.New("tqrouter: backlog func panicked")

// callBacklog calls src with a timeout; a panic in it is an error.
func callBacklog(src BacklogFunc, queue string) (n int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errBacklogPanic, p)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), askTimeout)
	defer cancel()
	return src(ctx, queue)
}
