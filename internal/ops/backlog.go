package ops

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"golang.org/x/sync/errgroup"

	"github.com/tqrouter/tqrouter/routing"
)

// DefaultBacklogConcurrency is how many DescribeTaskQueue requests
// [Backlog] has in flight at once when [BacklogOptions.Concurrency] is 0:
// enough that 1,000 queues (2,000 requests) answer in seconds, few enough
// that a frontend's default rate limits are not approached.
const DefaultBacklogConcurrency = 32

// KindBacklog is the backlog of one kind over every queue where its
// starts can land (its shard, overflow and pinned queues: the queues of
// [routing.Table.PollQueues]), workflow and activity tasks together.
type KindBacklog struct {
	// Kind is the queue kind.
	Kind routing.QueueKind `json:"kind"`
	// Queues is the number of queues asked about.
	Queues int `json:"queues"`
	// Backlog is the sum of the queues' approximate backlog counts, over
	// workflow and activity tasks.
	Backlog int64 `json:"backlog"`
	// BacklogAgeMS is BacklogAge in milliseconds.
	BacklogAgeMS int64 `json:"backlog_age_ms"`
	// WorkflowBacklog and ActivityBacklog split Backlog by task type.
	WorkflowBacklog int64 `json:"workflow_backlog"`
	ActivityBacklog int64 `json:"activity_backlog"`
	// BacklogAge is the approximate age of the oldest task queued on any
	// of the queues; 0 when nothing is queued.
	BacklogAge time.Duration `json:"-"`
}

// BacklogReport is what [Backlog] returns, and what the command prints and
// serves as JSON.
type BacklogReport struct {
	// Namespace is the namespace asked.
	Namespace string `json:"namespace"`
	// Kinds are the kinds asked about, in order.
	Kinds []KindBacklog `json:"kinds"`
}

// BacklogOptions tunes [Backlog].
type BacklogOptions struct {
	// Concurrency bounds the requests in flight; 0 means
	// [DefaultBacklogConcurrency].
	Concurrency int
}

// Backlog asks the server for the backlog of every queue each kind can
// land on ([routing.Table.PollQueues]) and sums it per kind, with at most
// opts.Concurrency requests at once. The server's figures are approximate
// and may lag by a few seconds (see reportStats). The first error stops
// it: a kind's figure is never a sum over some of its queues.
func Backlog(ctx context.Context, svc workflowservice.WorkflowServiceClient, namespace string, table *routing.Table, kinds []routing.QueueKind, opts BacklogOptions) (BacklogReport, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultBacklogConcurrency
	}
	rep := BacklogReport{Namespace: namespace, Kinds: make([]KindBacklog, len(kinds))}
	type ask struct {
		kind  int
		queue string
	}
	var asks []ask
	for i, k := range kinds {
		queues, err := table.PollQueues(k)
		if err != nil {
			return BacklogReport{}, err
		}
		rep.Kinds[i] = KindBacklog{Kind: k, Queues: len(queues)}
		for _, q := range queues {
			asks = append(asks, ask{kind: i, queue: q})
		}
	}
	// One slot per request; each goroutine writes only its own.
	type answer struct {
		count int64
		age   time.Duration
	}
	answers := make([][len(taskQueueTypes)]answer, len(asks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	for i, a := range asks {
		for j, typ := range taskQueueTypes {
			g.Go(func() error {
				resp, err := describe(gctx, svc, namespace, a.queue, typ, reportStats)
				if err != nil {
					return err
				}
				st := resp.GetStats()
				answers[i][j] = answer{count: st.GetApproximateBacklogCount(), age: st.GetApproximateBacklogAge().AsDuration()}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return BacklogReport{}, fmt.Errorf("backlog: %w", err)
	}
	for i, a := range asks {
		kb := &rep.Kinds[a.kind]
		wf, act := answers[i][0], answers[i][1]
		kb.WorkflowBacklog += wf.count
		kb.ActivityBacklog += act.count
		kb.BacklogAge = max(kb.BacklogAge, wf.age, act.age)
	}
	for i := range rep.Kinds {
		kb := &rep.Kinds[i]
		kb.Backlog = kb.WorkflowBacklog + kb.ActivityBacklog
		kb.BacklogAgeMS = kb.BacklogAge.Milliseconds()
	}
	return rep, nil
}
