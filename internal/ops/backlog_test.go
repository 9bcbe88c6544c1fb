package ops

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tqrouter/tqrouter/routing"
)

// statsServer is a fake frontend that answers DescribeTaskQueue with the
// backlog of each queue and type, and lets calls through only in groups of
// batch, so that a caller with less concurrency than batch never finishes
// and one with more is seen.
type statsServer struct {
	workflowservice.WorkflowServiceClient // unused methods panic
	backlog                               map[string]map[enumspb.TaskQueueType]*taskqueuepb.TaskQueueStats
	fail                                  string // a queue whose describe fails
	batch                                 int
	total                                 int // calls expected; the last batch may be short

	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	arrived     int
	gen         int
	cond        *sync.Cond
}

func (s *statsServer) DescribeTaskQueue(ctx context.Context, req *workflowservice.DescribeTaskQueueRequest, _ ...grpc.CallOption) (*workflowservice.DescribeTaskQueueResponse, error) {
	if !req.GetReportStats() || req.GetReportConfig() {
		return nil, errors.New("want stats only")
	}
	s.mu.Lock()
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.arrived++
	gen := s.gen
	if s.arrived%s.batch == 0 || s.arrived == s.total {
		s.gen++
		s.cond.Broadcast()
	}
	deadline := time.AfterFunc(10*time.Second, func() { s.mu.Lock(); s.gen++; s.cond.Broadcast(); s.mu.Unlock() })
	for s.gen == gen {
		s.cond.Wait()
	}
	deadline.Stop()
	s.inFlight--
	s.mu.Unlock()
	if req.GetTaskQueue().GetName() == s.fail {
		return nil, errors.New("unavailable")
	}
	return &workflowservice.DescribeTaskQueueResponse{Stats: s.backlog[req.GetTaskQueue().GetName()][req.GetTaskQueueType()]}, nil
}

func stats(count int64, age time.Duration) *taskqueuepb.TaskQueueStats {
	return &taskqueuepb.TaskQueueStats{ApproximateBacklogCount: count, ApproximateBacklogAge: durationpb.New(age)}
}

// TestBacklog: per kind, the sum over every queue it can land on (shards,
// overflow, pins) and both task types, the oldest age, the queue count;
// with exactly the concurrency asked for.
func TestBacklog(t *testing.T) {
	table, err := routing.NewTable(routing.Config{Prefix: "p", Shards: 2, Pins: map[string]string{"vip": "vip"}})
	require.NoError(t, err)
	wf, act := enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY
	srv := &statsServer{batch: 4, total: 10, backlog: map[string]map[enumspb.TaskQueueType]*taskqueuepb.TaskQueueStats{
		"p.tenant.00":          {wf: stats(10, time.Second), act: stats(1, 3*time.Second)},
		"p.tenant.01":          {wf: stats(5, 1500*time.Millisecond)},
		"p.tenant.overflow-00": {act: stats(2, 0)},
		"p.tenant.pinned-vip":  {wf: stats(7, 2*time.Second)},
		"p.jobs.00":            {wf: stats(3, 500*time.Millisecond), act: stats(0, 0)},
		"p.other.00":           {wf: stats(100, time.Hour)}, // not asked about
	}}
	srv.cond = sync.NewCond(&srv.mu)
	rep, err := Backlog(context.Background(), srv, "ns", table, []routing.QueueKind{routing.Tenant, routing.Jobs}, BacklogOptions{Concurrency: 4})
	require.NoError(t, err)
	require.Equal(t, BacklogReport{Namespace: "ns", Kinds: []KindBacklog{
		{Kind: routing.Tenant, Queues: 4, Backlog: 25, WorkflowBacklog: 22, ActivityBacklog: 3, BacklogAge: 3 * time.Second, BacklogAgeMS: 3000},
		{Kind: routing.Jobs, Queues: 1, Backlog: 3, WorkflowBacklog: 3, BacklogAge: 500 * time.Millisecond, BacklogAgeMS: 500},
	}}, rep)
	require.Equal(t, 4, srv.maxInFlight, "the concurrency asked for, no more")

	// An error on one queue fails the whole: no partial sums.
	srv.fail, srv.arrived, srv.maxInFlight = "p.tenant.01", 0, 0
	srv.batch, srv.total = 1, 8
	_, err = Backlog(context.Background(), srv, "ns", table, []routing.QueueKind{routing.Tenant}, BacklogOptions{Concurrency: 1})
	require.ErrorContains(t, err, `describing workflow queue "p.tenant.01": unavailable`)
	require.Equal(t, 1, srv.maxInFlight)

	// An unknown kind is the routing's error.
	_, err = Backlog(context.Background(), srv, "ns", table, []routing.QueueKind{"a.b"}, BacklogOptions{})
	require.ErrorIs(t, err, routing.ErrInvalidConfig)
}

// TestBacklogManyQueues: 1,000 queues are asked about with the default
// concurrency, each once per type.
func TestBacklogManyQueues(t *testing.T) {
	table, err := routing.NewTable(routing.Config{Prefix: "p", Shards: 999})
	require.NoError(t, err)
	srv := &statsServer{batch: DefaultBacklogConcurrency, total: 2000, backlog: map[string]map[enumspb.TaskQueueType]*taskqueuepb.TaskQueueStats{}}
	srv.cond = sync.NewCond(&srv.mu)
	for i := range 999 {
		srv.backlog[routing.TaskQueueName("p", routing.Tenant, i)] = map[enumspb.TaskQueueType]*taskqueuepb.TaskQueueStats{enumspb.TASK_QUEUE_TYPE_WORKFLOW: stats(1, 0)}
	}
	rep, err := Backlog(context.Background(), srv, "ns", table, []routing.QueueKind{routing.Tenant}, BacklogOptions{})
	require.NoError(t, err)
	require.Equal(t, 1000, rep.Kinds[0].Queues, fmt.Sprint(rep))
	require.Equal(t, int64(999), rep.Kinds[0].Backlog)
	require.Equal(t, 2000, srv.arrived)
	require.Equal(t, DefaultBacklogConcurrency, srv.maxInFlight)
}
