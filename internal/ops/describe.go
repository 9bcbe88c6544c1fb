package ops

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
)

// report says what [describe] asks the server to include besides the
// pollers, which it always gets.
type report uint8

const (
	reportPollers report = 0
	// reportStats: the backlog (approximate count and age of the oldest
	// task). The server computes it on the queue's root partition and
	// caches it for matching.TaskQueueInfoByBuildIdTTL (5 s by default),
	// so it may lag the queue by that much.
	reportStats report = 1 << iota
	// reportConfig: the fairness weight overrides and rate limits.
	reportConfig
)

// describe asks the server about one type of one task queue (or of one of
// its partitions, by [PartitionName]) with DescribeTaskQueue: every
// command's question about a queue goes through here. The error names the
// queue and the type.
func describe(ctx context.Context, svc workflowservice.WorkflowServiceClient, namespace, queue string, typ enumspb.TaskQueueType, r report) (*workflowservice.DescribeTaskQueueResponse, error) {
	resp, err := svc.DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace:     namespace,
		TaskQueue:     &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: typ,
		ReportStats:   r&reportStats != 0,
		ReportConfig:  r&reportConfig != 0,
	})
	if err != nil {
		return nil, fmt.Errorf("tqrouter: describing %s queue %q: %w", TypeName(typ), queue, err)
	}
	return resp, nil
}
