package workers

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tqrouter/tqrouter/routing"
)

func TestQueues(t *testing.T) {
	table, err := routing.NewTable(routing.Config{Prefix: "saas", Shards: 16})
	require.NoError(t, err)
	all, err := Queues(table, routing.Tenant)
	require.NoError(t, err)
	assert.Len(t, all, 16)
	assert.Equal(t, "saas.tenant.15", all[15])

	some, err := Queues(table, routing.Tenant, 0, 7, 7, 3)
	require.NoError(t, err)
	assert.Equal(t, []string{"saas.tenant.00", "saas.tenant.07", "saas.tenant.03"}, some)

	jobs, err := Queues(table, routing.Jobs)
	require.NoError(t, err)
	assert.Equal(t, []string{"saas.jobs.00"}, jobs, "jobs only ever go to shard 00")

	_, err = Queues(table, routing.Tenant, 16)
	assert.ErrorIs(t, err, routing.ErrInvalidConfig)
	_, err = Queues(table, routing.Tenant, -1)
	assert.ErrorIs(t, err, routing.ErrInvalidConfig)
	_, err = Queues(table, "bad kind")
	assert.ErrorIs(t, err, routing.ErrInvalidConfig)
}
