// Package migration helps operators move work between queue layouts without
// stranding a workflow: from the legacy queue to routed queues, and from one
// shard count to another.
//
// A running workflow keeps the task queue it started on, with its activities
// and timers, until it completes. So after a change of layout, the queues
// that no longer receive starts ([Retired]) must keep their workers until
// they hold no open workflow and no queued task ([Status], [QueueStatus.Drained]).
// Growing the shard count retires nothing (the queues of N shards are among
// those of M > N shards); shrinking it, or leaving the legacy queue, does.
package migration

import (
	"context"
	"fmt"
	"slices"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/tqrouter/tqrouter/routing"
)

// Preview says what a change of shard count does to a set of tenants.
type Preview struct {
	// FromShards and ToShards are the shard counts compared.
	FromShards, ToShards int
	// Tenants is the number of distinct tenants previewed.
	Tenants int
	// Moved is how many of them get another shard, so that their new
	// starts go to another queue than their running workflows.
	Moved int
	// PerShard counts the tenants of each new shard.
	PerShard []int
}

// PreviewReshard computes, without any I/O, how many of tenants move when the
// shard count goes from fromShards to toShards.
func PreviewReshard(tenants []string, fromShards, toShards int) Preview {
	p := Preview{FromShards: fromShards, ToShards: toShards, PerShard: make([]int, max(1, toShards))}
	seen := make(map[string]bool, len(tenants))
	for _, t := range tenants {
		if seen[t] {
			continue
		}
		seen[t] = true
		p.Tenants++
		to := routing.StableShard(t, toShards)
		p.PerShard[to]++
		if routing.StableShard(t, fromShards) != to {
			p.Moved++
		}
	}
	return p
}

// Retired returns the queues that may still hold work but get no new starts
// under current: the legacy queues, and the queues of the previous
// configurations (same prefix or not) that current does not have. Workers
// must keep polling them until [Status] says they are drained.
func Retired(current *routing.Table, kinds []routing.QueueKind, legacy []string, previous ...routing.Config) ([]string, error) {
	live := map[string]bool{}
	for _, k := range kinds {
		names, err := current.PollQueues(k)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			live[n] = true
		}
	}
	var retired []string
	add := func(q string) {
		if !live[q] && !slices.Contains(retired, q) {
			retired = append(retired, q)
		}
	}
	for _, q := range legacy {
		add(q)
	}
	for _, cfg := range previous {
		old, err := routing.NewTable(cfg)
		if err != nil {
			return nil, err
		}
		for _, k := range kinds {
			names, err := old.PollQueues(k)
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				add(n)
			}
		}
	}
	return retired, nil
}

// QueueStatus is what a task queue still holds.
type QueueStatus struct {
	// Queue is the task queue name.
	Queue string
	// OpenWorkflows counts running workflows on the queue (from visibility,
	// which lags the server by up to a few seconds).
	OpenWorkflows int64
	// Backlog is the approximate number of queued workflow and activity
	// tasks.
	Backlog int64
	// Pollers is the number of pollers the server has seen recently.
	Pollers int
}

// Drained reports whether the queue holds no open workflow and no task, so
// that its workers can stop.
func (s QueueStatus) Drained() bool { return s.OpenWorkflows == 0 && s.Backlog == 0 }

// Status asks the server what each queue still holds, in namespace ("" is
// "default").
func Status(ctx context.Context, c client.Client, namespace string, queues []string) ([]QueueStatus, error) {
	if namespace == "" {
		namespace = "default"
	}
	out := make([]QueueStatus, 0, len(queues))
	for _, q := range queues {
		if q == "" || strings.ContainsAny(q, `'"\`) {
			return nil, fmt.Errorf("tqrouter: queue name %q cannot be queried", q)
		}
		st := QueueStatus{Queue: q}
		count, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Namespace: namespace,
			Query:     fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = 'Running'", q),
		})
		if err != nil {
			return nil, fmt.Errorf("tqrouter: counting workflows on %q: %w", q, err)
		}
		st.OpenWorkflows = count.GetCount()
		pollers := map[string]bool{}
		for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
				Namespace:     namespace,
				TaskQueue:     &taskqueuepb.TaskQueue{Name: q, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
				TaskQueueType: typ,
				ReportStats:   true,
			})
			if err != nil {
				return nil, fmt.Errorf("tqrouter: describing %q: %w", q, err)
			}
			st.Backlog += resp.GetStats().GetApproximateBacklogCount()
			for _, p := range resp.GetPollers() {
				pollers[p.GetIdentity()] = true
			}
		}
		st.Pollers = len(pollers)
		out = append(out, st)
	}
	return out, nil
}
