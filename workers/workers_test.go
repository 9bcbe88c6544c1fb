package workers

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

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

func TestNewValidates(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	require.NoError(t, err)
	defer c.Close()
	_, err = New(nil, []string{"q"}, worker.Options{}, func(worker.Registry) {})
	assert.Error(t, err)
	_, err = New(c, nil, worker.Options{}, func(worker.Registry) {})
	assert.Error(t, err)
	_, err = New(c, []string{"q"}, worker.Options{}, nil)
	assert.Error(t, err)

	var registered []string
	queues := []string{"a", "b"}
	g, err := New(c, queues, worker.Options{}, func(r worker.Registry) {
		registered = append(registered, "x")
		r.RegisterWorkflowWithOptions(func(workflow.Context) error { return nil }, workflow.RegisterOptions{Name: "W"})
	})
	require.NoError(t, err)
	assert.Len(t, registered, 2, "every worker gets the registrations")
	queues[0] = "mutated"
	assert.Equal(t, []string{"a", "b"}, g.Queues())
	g.Stop() // not started: no-op
}
