package migration

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tqrouter/tqrouter/routing"
)

func TestPreviewReshard(t *testing.T) {
	tenants := []string{"acme", "acme", "38d69f70-d254-41a7-9ebf-aeab054c8c61", "tenant-ü-☃", "0"}
	same := PreviewReshard(tenants, 8, 8)
	assert.Equal(t, 4, same.Tenants, "duplicates count once")
	assert.Zero(t, same.Moved)

	p := PreviewReshard(tenants, 1, 7)
	want := 0
	for _, tn := range []string{"acme", "38d69f70-d254-41a7-9ebf-aeab054c8c61", "tenant-ü-☃", "0"} {
		if routing.StableShard(tn, 7) != 0 {
			want++
		}
	}
	assert.Equal(t, want, p.Moved)
	sum := 0
	for _, n := range p.PerShard {
		sum += n
	}
	assert.Equal(t, 4, sum)
	assert.Len(t, p.PerShard, 7)
}

func TestPreviewReshardDoublingMovesAboutHalf(t *testing.T) {
	var tenants []string
	for i := range 2000 {
		tenants = append(tenants, "tenant-"+strconv.Itoa(i))
	}
	p := PreviewReshard(tenants, 32, 64)
	// Going from N to 2N shards keeps a tenant iff bit N of its hash is 0.
	assert.InDelta(t, 1000, p.Moved, 150)
}

func TestRetired(t *testing.T) {
	kinds := []routing.QueueKind{routing.Tenant}
	eight, err := routing.NewTable(routing.Config{Prefix: "saas", Shards: 8})
	require.NoError(t, err)

	grow, err := Retired(eight, kinds, []string{"main-queue"}, routing.Config{Prefix: "saas", Shards: 4})
	require.NoError(t, err)
	assert.Equal(t, []string{"main-queue"}, grow, "growing retires only the legacy queue")

	four, err := routing.NewTable(routing.Config{Prefix: "saas", Shards: 4})
	require.NoError(t, err)
	shrink, err := Retired(four, kinds, nil, routing.Config{Prefix: "saas", Shards: 8})
	require.NoError(t, err)
	assert.Equal(t, []string{"saas.tenant.04", "saas.tenant.05", "saas.tenant.06", "saas.tenant.07"}, shrink)

	renamed, err := Retired(four, kinds, nil, routing.Config{Prefix: "old", Shards: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"old.tenant.00", "old.tenant.01", "old.tenant.overflow-00"}, renamed, "overflow queues retire with their layout")

	unpinned, err := Retired(four, kinds, nil, routing.Config{Prefix: "saas", Shards: 4, Pins: map[string]string{"acme": "acme"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"saas.tenant.pinned-acme"}, unpinned, "a removed pin retires its queue")

	_, err = Retired(four, kinds, nil, routing.Config{Prefix: "bad prefix", Shards: 2})
	assert.ErrorIs(t, err, routing.ErrInvalidConfig)
}
