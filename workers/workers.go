package workers

import (
	"github.com/tqrouter/tqrouter/routing"
)

// Queues returns the task queues that workers of kind must poll: see
// [routing.Table.PollQueues], which it calls.
func Queues(table *routing.Table, kind routing.QueueKind, shards ...int) ([]string, error) {
	return table.PollQueues(kind, shards...)
}
