package ops

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteDynamicConfig(t *testing.T) {
	queues := []Queue{{Name: "saas.tenant.00"}, {Name: "saas.jobs.00"}}
	var b strings.Builder
	require.NoError(t, WriteDynamicConfig(&b, "", queues, 2))
	require.Equal(t, `matching.numTaskqueueReadPartitions:
  - value: 2
    constraints:
      taskQueueName: "saas.tenant.00"
  - value: 2
    constraints:
      taskQueueName: "saas.jobs.00"
matching.numTaskqueueWritePartitions:
  - value: 2
    constraints:
      taskQueueName: "saas.tenant.00"
  - value: 2
    constraints:
      taskQueueName: "saas.jobs.00"
matching.enableFairness:
  - value: true
    constraints:
      taskQueueName: "saas.tenant.00"
  - value: true
    constraints:
      taskQueueName: "saas.jobs.00"
`, b.String(), "without a namespace, no namespace constraint")
}
