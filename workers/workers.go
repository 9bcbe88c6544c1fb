package workers

import (
	"fmt"

	"github.com/tqrouter/tqrouter/routing"
)

// Queues returns the task queues of kind that receive work and so must be
// polled: every shard's, except for [routing.Jobs], whose starts all go to
// shard 00. When shards are given, only those shards' queues are returned
// (so a deployment can own shards 0-7). A shard outside the table's shard
// count is an error wrapping [routing.ErrInvalidConfig].
func Queues(table *routing.Table, kind routing.QueueKind, shards ...int) ([]string, error) {
	all, err := table.Queues(kind)
	if err != nil {
		return nil, err
	}
	if len(shards) == 0 {
		if kind == routing.Jobs {
			return all[:1], nil
		}
		return all, nil
	}
	queues := make([]string, 0, len(shards))
	seen := make(map[int]bool, len(shards))
	for _, s := range shards {
		if s < 0 || s >= len(all) {
			return nil, fmt.Errorf("%w: shard %d outside 0..%d", routing.ErrInvalidConfig, s, len(all)-1)
		}
		if !seen[s] {
			seen[s] = true
			queues = append(queues, all[s])
		}
	}
	return queues, nil
}
