package ops

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/tqrouter/tqrouter/routing"
)

// Queue is a routed queue that workers must poll, as [Queues] lists it
// (routing.Table.PollQueues for each kind).
type Queue struct {
	// Name is the task queue name.
	Name string `json:"queue"`
	// Kind is the queue kind; empty for a legacy queue.
	Kind routing.QueueKind `json:"kind"`
	// Role is "shard", "overflow" or "pinned" ([routing.Role]), or
	// "legacy" for a queue the router routes starts from.
	Role string `json:"role"`
}

// Queues returns every queue the workers of kinds must poll
// ([routing.Table.PollQueues]), each once, with its kind and role.
func Queues(table *routing.Table, kinds []routing.QueueKind) ([]Queue, error) {
	var out []Queue
	seen := map[string]bool{}
	prefix := table.Prefix()
	for _, k := range kinds {
		names, err := table.PollQueues(k)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			d, _ := routing.ParseTaskQueue(prefix, n)
			out = append(out, Queue{Name: n, Kind: k, Role: d.Role.String()})
		}
	}
	return out, nil
}

// Check names what a [Finding] is about.
type Check string

// The checks of [Doctor].
const (
	// CheckPollers: a type of a queue that can receive starts has no
	// poller the server has seen recently, so its tasks wait.
	CheckPollers Check = "no-pollers"
	// CheckBacklogAge: the oldest task of a queue has waited longer than
	// [DoctorOptions.MaxBacklogAge].
	CheckBacklogAge Check = "backlog-age"
	// CheckOverridesDiffer: the workflow and activity tasks of a queue have
	// different fairness weight overrides, as a "weights apply" that
	// stopped halfway leaves them.
	CheckOverridesDiffer Check = "overrides-differ"
	// CheckPartitions: the queue has more than one write partition (or
	// pollers on a partition other than 0, so more than one read
	// partition), and fairness orders tasks only within a partition.
	CheckPartitions Check = "partitions"
)

// Finding is one thing [Doctor] found wrong.
type Finding struct {
	// Queue is the task queue it is about.
	Queue string `json:"queue"`
	// Type is "workflow", "activity", or empty for the whole queue.
	Type string `json:"type,omitempty"`
	// Check is what was checked.
	Check Check `json:"check"`
	// Message says what is wrong and what it does.
	Message string `json:"message"`
}

// QueueState is what the server shows of one type of one routed queue.
type QueueState struct {
	Queue
	// Type is "workflow" or "activity".
	Type string `json:"type"`
	// Pollers counts the pollers the server saw within
	// [DoctorOptions.PollerWindow].
	Pollers int `json:"pollers"`
	// Backlog is the approximate number of queued tasks.
	Backlog int64 `json:"backlog"`
	// BacklogAge is the approximate age of the oldest queued task.
	BacklogAge time.Duration `json:"backlog_age_ns"`
	// Overrides counts the queue's fairness weight overrides.
	Overrides int `json:"overrides"`
	// KeyRate is the per-fairness-key default rate limit (tasks/s), if set.
	KeyRate *float32 `json:"key_rate,omitempty"`
	// WritePartitions is the number of partitions the server writes the
	// queue's tasks of this type to (ListTaskQueuePartitions).
	WritePartitions int `json:"write_partitions"`
	// OtherPartitionPollers counts the pollers seen on partitions 1 to
	// [ProbedPartitions] (see [CheckPartitions]); always 0 without
	// [DoctorOptions.ProbePartitions].
	OtherPartitionPollers int `json:"other_partition_pollers"`
	overrides             map[string]float32
}

// Report is what [Doctor] returns.
type Report struct {
	// ServerVersion is the server's version, from GetSystemInfo.
	ServerVersion string `json:"server_version"`
	// Queues are the states of every queue's workflow and activity tasks.
	Queues []QueueState `json:"queues"`
	// Findings are what is wrong, one per line of the command's output.
	Findings []Finding `json:"findings"`
}

// DoctorOptions tunes [Doctor].
type DoctorOptions struct {
	// PollerWindow is how recently a poller must have polled to count.
	// The server remembers pollers for 5 minutes (matching.PollerHistoryTTL)
	// and an idle poller's long poll lasts about a minute, so 0 means 2
	// minutes.
	PollerWindow time.Duration
	// MaxBacklogAge is the age of the oldest queued task above which a
	// queue is a finding; 0 means no such check.
	MaxBacklogAge time.Duration
	// ProbePartitions describes partitions 1 to [ProbedPartitions] of each
	// queue to see whether polls reach them (see [CheckPartitions]). The
	// server loads a partition it is asked about, so on a queue with one
	// partition this makes the server load (and persist the metadata of)
	// partitions it does not use, until they idle out.
	ProbePartitions bool
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// ProbedPartitions is the highest partition [Doctor] describes. Polls are
// spread over every read partition, so pollers on any of 1 to 3 show that
// a queue has more than one.
const ProbedPartitions = 3

// Doctor asks the server about every queue in queues, in namespace: its
// pollers, backlog and task queue configuration for workflow and activity
// tasks, and whether it has pollers on a second partition. It returns the
// findings; an error only when the server could not be asked.
func Doctor(ctx context.Context, svc workflowservice.WorkflowServiceClient, namespace string, queues []Queue, opts DoctorOptions) (Report, error) {
	if opts.PollerWindow <= 0 {
		opts.PollerWindow = 2 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var rep Report
	info, err := svc.GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{})
	if err != nil {
		return rep, fmt.Errorf("tqrouter: asking the server for its version: %w", err)
	}
	rep.ServerVersion = info.GetServerVersion()
	for _, q := range queues {
		parts, err := svc.ListTaskQueuePartitions(ctx, &workflowservice.ListTaskQueuePartitionsRequest{
			Namespace: namespace,
			TaskQueue: &taskqueuepb.TaskQueue{Name: q.Name, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		})
		if err != nil {
			return rep, fmt.Errorf("tqrouter: listing the partitions of queue %q: %w", q.Name, err)
		}
		writePartitions := map[enumspb.TaskQueueType]int{
			enumspb.TASK_QUEUE_TYPE_WORKFLOW: len(parts.GetWorkflowTaskQueuePartitions()),
			enumspb.TASK_QUEUE_TYPE_ACTIVITY: len(parts.GetActivityTaskQueuePartitions()),
		}
		var states [len(taskQueueTypes)]QueueState
		for i, typ := range taskQueueTypes {
			resp, err := describe(ctx, svc, namespace, q.Name, typ, reportStats|reportConfig)
			if err != nil {
				return rep, err
			}
			cfg := configOf(q.Name, typ, resp.GetConfig())
			st := QueueState{
				Queue:      q,
				Type:       TypeName(typ),
				Pollers:    livePollers(resp.GetPollers(), opts.Now(), opts.PollerWindow),
				Backlog:    resp.GetStats().GetApproximateBacklogCount(),
				BacklogAge: resp.GetStats().GetApproximateBacklogAge().AsDuration(),
				Overrides:  len(cfg.Overrides),
				KeyRate:    cfg.KeyRate,
				overrides:  cfg.Overrides,

				WritePartitions: writePartitions[typ],
			}
			for n := 1; opts.ProbePartitions && n <= ProbedPartitions; n++ {
				p, err := partitionPollers(ctx, svc, namespace, q.Name, typ, n, opts)
				if err != nil {
					return rep, err
				}
				st.OtherPartitionPollers += p
			}
			states[i] = st
			rep.Queues = append(rep.Queues, st)
		}
		rep.Findings = append(rep.Findings, findings(states[:], opts)...)
	}
	return rep, nil
}

func findings(states []QueueState, opts DoctorOptions) []Finding {
	var out []Finding
	for _, st := range states {
		if st.Pollers == 0 {
			out = append(out, Finding{Queue: st.Name, Type: st.Type, Check: CheckPollers,
				Message: fmt.Sprintf("no %s poller seen in the last %v: %s tasks routed here wait until a worker polls it", st.Type, opts.PollerWindow, st.Type)})
		}
		if opts.MaxBacklogAge > 0 && st.BacklogAge > opts.MaxBacklogAge {
			out = append(out, Finding{Queue: st.Name, Type: st.Type, Check: CheckBacklogAge,
				Message: fmt.Sprintf("oldest of %d queued %s tasks is %v old, over %v", st.Backlog, st.Type, st.BacklogAge.Round(time.Second), opts.MaxBacklogAge)})
		}
		switch {
		case st.WritePartitions > 1:
			out = append(out, Finding{Queue: st.Name, Type: st.Type, Check: CheckPartitions,
				Message: fmt.Sprintf("%d write partitions, and fairness orders tasks only within a partition: set matching.numTaskqueueWritePartitions to 1 for this queue, then the read partitions once it has drained (tqrouter queues --dynamic-config)", st.WritePartitions)})
		case st.OtherPartitionPollers > 0:
			out = append(out, Finding{Queue: st.Name, Type: st.Type, Check: CheckPartitions,
				Message: "polls reach partitions other than 0: the queue still has more than one read partition (fine while its old partitions drain; then set matching.numTaskqueueReadPartitions to 1)"})
		}
	}
	if len(states) == 2 && !sameOverrides(states[0].overrides, states[1].overrides) {
		out = append(out, Finding{Queue: states[0].Name, Check: CheckOverridesDiffer,
			Message: fmt.Sprintf("workflow tasks have %d fairness weight overrides, activity tasks %d others: run tqrouter weights apply again", states[0].Overrides, states[1].Overrides)})
	}
	return out
}

func sameOverrides(a, b map[string]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func livePollers(pollers []*taskqueuepb.PollerInfo, now time.Time, window time.Duration) int {
	n := 0
	for _, p := range pollers {
		if t := p.GetLastAccessTime(); t == nil || now.Sub(t.AsTime()) <= window {
			n++
		}
	}
	return n
}

// PartitionName is the name by which the server addresses partition n of a
// task queue ("/_sys/{queue}/{n}"); partition 0 is the queue's own name.
func PartitionName(queue string, n int) string {
	if n == 0 {
		return queue
	}
	return fmt.Sprintf("/_sys/%s/%d", queue, n)
}

// partitionPollers counts the recent pollers the server saw on one
// partition. The server spreads a queue's polls over its read partitions
// (matching.numTaskqueueReadPartitions, 4 by default), so pollers on
// partition n > 0 mean more than one partition.
func partitionPollers(ctx context.Context, svc workflowservice.WorkflowServiceClient, namespace, queue string, typ enumspb.TaskQueueType, n int, opts DoctorOptions) (int, error) {
	resp, err := describe(ctx, svc, namespace, PartitionName(queue, n), typ, reportPollers)
	if err != nil {
		return 0, err
	}
	return livePollers(resp.GetPollers(), opts.Now(), opts.PollerWindow), nil
}
