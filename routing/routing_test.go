package routing

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tqrouter/tqrouter/internal/vectors"
)

func loadVectors(t testing.TB) []vectors.Case { return vectors.Load(t) }

// TestReferenceVectors pins StableShard and TaskQueueName to the reference
// implementation that other services share.
func TestReferenceVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		assert.Equal(t, v.Shard, StableShard(v.TenantID, v.Shards), "StableShard(%q, %d)", v.TenantID, v.Shards)
		assert.Equal(t, v.TaskQueue, TaskQueueName("saas", Tenant, v.Shard), "TaskQueueName for %q/%d", v.TenantID, v.Shards)
		if v.TenantID == "" {
			continue // the algorithm is defined for "", but the router refuses it
		}
		table, err := NewTable(Config{Prefix: "saas", Shards: v.Shards})
		require.NoError(t, err)
		route, err := table.TenantRoute(Tenant, v.TenantID, 0)
		require.NoError(t, err)
		assert.Equal(t, v.TaskQueue, route.TaskQueue)
		assert.Equal(t, v.Shard, route.Shard)
	}
}

func TestStableShardGolden(t *testing.T) {
	// Independent of the vectors file, so that a bad edit to it is caught.
	tests := []struct {
		key    string
		shards int
		want   int
	}{
		{"acme", 0, 0},
		{"acme", -5, 0},
		{"acme", 1, 0},
		{"", 7, StableShardReference("", 7)},
		{"acme", 32, StableShardReference("acme", 32)},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, StableShard(tt.key, tt.shards), "StableShard(%q, %d)", tt.key, tt.shards)
	}
	var acme32 int
	for _, v := range loadVectors(t) {
		if v.TenantID == "acme" && v.Shards == 32 {
			acme32 = v.Shard
		}
	}
	assert.Equal(t, acme32, StableShard("acme", 32))
}

// StableShardReference is the algorithm written out as the spec states it.
func StableShardReference(key string, shards int) int {
	sum := sha256.Sum256([]byte(key))
	return int(uint64(binary.BigEndian.Uint32(sum[:4])) % uint64(max(1, shards)))
}

func TestTaskQueueName(t *testing.T) {
	assert.Equal(t, "saas.tenant.00", TaskQueueName("saas", Tenant, 0))
	assert.Equal(t, "saas.tenant.07", TaskQueueName("saas", Tenant, 7))
	assert.Equal(t, "saas.jobs.42", TaskQueueName("saas", Jobs, 42))
	assert.Equal(t, "saas.tenant.123", TaskQueueName("saas", Tenant, 123))
	assert.Equal(t, "prod.eu.tenant.1023", TaskQueueName("prod.eu", Tenant, 1023))
}

func TestParseTaskQueue(t *testing.T) {
	tests := []struct {
		prefix, name string
		want         Destination
		ok           bool
	}{
		{"saas", "saas.tenant.07", Destination{Tenant, ShardQueue, 7, ""}, true},
		{"saas", "saas.jobs.00", Destination{Jobs, ShardQueue, 0, ""}, true},
		{"saas", "saas.tenant.123", Destination{Tenant, ShardQueue, 123, ""}, true},
		{"prod.eu", "prod.eu.reports.01", Destination{"reports", ShardQueue, 1, ""}, true},
		{"saas", "saas.tenant.overflow-00", Destination{Tenant, OverflowQueue, 0, ""}, true},
		{"saas", "saas.tenant.overflow-12", Destination{Tenant, OverflowQueue, 12, ""}, true},
		{"saas", "saas.tenant.pinned-acme", Destination{Tenant, PinnedQueue, 0, "acme"}, true},
		{"saas", "saas.reports.pinned-big_1", Destination{"reports", PinnedQueue, 0, "big_1"}, true},
		{"saas", "saas.tenant.7", Destination{}, false},            // not padded
		{"saas", "saas.tenant.007", Destination{}, false},          // over-padded
		{"saas", "saas.tenant.1024", Destination{}, false},         // above MaxShards
		{"saas", "saas.tenant.0x", Destination{}, false},           // not digits
		{"saas", "saas.a.b.01", Destination{}, false},              // kind with a dot
		{"saas", "saasx.tenant.01", Destination{}, false},          // other prefix
		{"saas", "main-queue", Destination{}, false},               // legacy queue
		{"saas", "saas..01", Destination{}, false},                 // empty kind
		{"saas", "saas.tenant.", Destination{}, false},             // no shard
		{"", ".tenant.01", Destination{}, false},                   // no prefix
		{"saas", "saas.tenant.-1", Destination{}, false},           // negative
		{"saas", "saas.tenant.01 ", Destination{}, false},          // trailing space
		{"saas", "saas.ten ant.01", Destination{}, false},          // space in kind
		{"saas", "saas.tenant.01.02", Destination{}, false},        // extra segment
		{"saas", "saas.tenant.overflow-1", Destination{}, false},   // not padded
		{"saas", "saas.tenant.overflow-", Destination{}, false},    // no number
		{"saas", "saas.tenant.pinned-", Destination{}, false},      // no label
		{"saas", "saas.tenant.pinned-a b", Destination{}, false},   // bad label
		{"saas", "saas.tenant.Overflow-01", Destination{}, false},  // case matters
		{"saas", "saas.tenant.overflow-001", Destination{}, false}, // over-padded
	}
	for _, tt := range tests {
		got, ok := ParseTaskQueue(tt.prefix, tt.name)
		assert.Equal(t, tt.ok, ok, "ParseTaskQueue(%q, %q)", tt.prefix, tt.name)
		assert.Equal(t, tt.want, got, "ParseTaskQueue(%q, %q)", tt.prefix, tt.name)
		if ok { // a name refused here may be another prefix's queue
			prefix, d, splitOK := SplitTaskQueue(tt.name)
			assert.True(t, splitOK, "SplitTaskQueue(%q)", tt.name)
			assert.Equal(t, tt.prefix, prefix, "SplitTaskQueue(%q)", tt.name)
			assert.Equal(t, tt.want, d, "SplitTaskQueue(%q)", tt.name)
		}
	}
	// Without a prefix to go by, the last two segments decide.
	prefix, d, ok := SplitTaskQueue("prod.eu.tenant.overflow-00")
	assert.True(t, ok)
	assert.Equal(t, "prod.eu", prefix)
	assert.Equal(t, Destination{Tenant, OverflowQueue, 0, ""}, d)
	for _, name := range []string{"tenant.overflow-00", "overflow-00", "", ".tenant.01", "main-queue"} {
		_, _, ok := SplitTaskQueue(name)
		assert.False(t, ok, "SplitTaskQueue(%q)", name)
	}
}

func TestConfigValidate(t *testing.T) {
	valid := []Config{
		{Prefix: "saas", Shards: 1},
		{Prefix: "saas", Shards: MaxShards},
		{Prefix: "prod.eu-west_1", Shards: 32},
		{Prefix: "saas", Shards: 3, Overflow: NoOverflow},
		{Prefix: "saas", Shards: 3, Overflow: 4, Pins: map[string]string{"acme": "acme", "globex": "big"}},
	}
	for _, c := range valid {
		assert.NoError(t, c.Validate(), "%+v", c)
	}
	invalid := []Config{
		{},
		{Prefix: "saas"},
		{Prefix: "saas", Shards: -1},
		{Prefix: "saas", Shards: MaxShards + 1},
		{Prefix: "", Shards: 1},
		{Prefix: "sa as", Shards: 1},
		{Prefix: "saas.", Shards: 1},
		{Prefix: ".saas", Shards: 1},
		{Prefix: "a..b", Shards: 1},
		{Prefix: "sääs", Shards: 1},
		{Prefix: "saas/x", Shards: 1},
		{Prefix: strings.Repeat("a", MaxPrefixLen+1), Shards: 1},
		{Prefix: "saas", Shards: 1, Overflow: -2},
		{Prefix: "saas", Shards: 1, Overflow: MaxShards + 1},
		{Prefix: "saas", Shards: 1, Pins: map[string]string{" acme": "acme"}},
		{Prefix: "saas", Shards: 1, Pins: map[string]string{"acme": "a.b"}},
		{Prefix: "saas", Shards: 1, Pins: map[string]string{"acme": ""}},
	}
	for _, c := range invalid {
		err := c.Validate()
		assert.ErrorIs(t, err, ErrInvalidConfig, "%+v", c)
		_, err = NewTable(c)
		assert.ErrorIs(t, err, ErrInvalidConfig, "NewTable(%+v)", c)
	}
}

func TestValidateKind(t *testing.T) {
	for _, k := range []QueueKind{Tenant, Jobs, "reports", "bulk-import", "a_b", "X1"} {
		assert.NoError(t, ValidateKind(k), k)
	}
	for _, k := range []QueueKind{"", "a.b", "a b", "ä", "a/b", QueueKind(strings.Repeat("k", MaxKindLen+1))} {
		assert.ErrorIs(t, ValidateKind(k), ErrInvalidConfig, k)
	}
}

func TestValidateTenant(t *testing.T) {
	for _, id := range []string{"acme", "tenant-ü-☃", "38d69f70-d254-41a7-9ebf-aeab054c8c61", "a b", strings.Repeat("x", MaxTenantLen)} {
		assert.NoError(t, ValidateTenant(id), "%q", id)
	}
	for _, id := range []string{"", " ", "\t\n", " acme", "acme ", "ac\x00me", "ac\nme", "\xff\xfe", strings.Repeat("x", MaxTenantLen+1), "acme\u00a0"} {
		assert.ErrorIs(t, ValidateTenant(id), ErrInvalidTenant, "%q", id)
	}
}

func TestFairnessKey(t *testing.T) {
	assert.Equal(t, "acme", FairnessKey("acme"))
	exact := strings.Repeat("k", MaxFairnessKeyLen)
	assert.Equal(t, exact, FairnessKey(exact))

	long := strings.Repeat("k", MaxFairnessKeyLen+1)
	key := FairnessKey(long)
	assert.Len(t, key, MaxFairnessKeyLen)
	assert.True(t, strings.HasPrefix(key, "sha256:"))
	assert.Equal(t, key, FairnessKey(long), "derived key must be stable")
	assert.NotEqual(t, key, FairnessKey(long+"x"))
	// Golden, from `printf "a%.0s" $(seq 100) | sha256sum`: other services
	// derive the same key.
	assert.Equal(t, "sha256:2816597888e4a0d3a36b82b83316ab32680eb8f00f8cd3b904d681246", FairnessKey(strings.Repeat("a", 100)))
}

func TestNormalizeWeight(t *testing.T) {
	tests := []struct {
		in, want float32
	}{
		{0, 0},
		{1, 1},
		{2.5, 2.5},
		{0.0001, MinWeight},
		{MinWeight, MinWeight},
		{MaxWeight, MaxWeight},
		{5000, MaxWeight},
		{math.MaxFloat32, MaxWeight},
		{float32(math.Inf(1)), MaxWeight},
	}
	for _, tt := range tests {
		got, err := NormalizeWeight(tt.in)
		require.NoError(t, err, "%v", tt.in)
		assert.Equal(t, tt.want, got, "NormalizeWeight(%v)", tt.in)
	}
	for _, w := range []float32{float32(math.NaN()), -1, -MinWeight, float32(math.Inf(-1))} {
		_, err := NormalizeWeight(w)
		assert.ErrorIs(t, err, ErrInvalidWeight, "%v", w)
	}
}

func TestTable(t *testing.T) {
	table, err := NewTable(Config{Prefix: "saas", Shards: 4})
	require.NoError(t, err)

	queues, err := table.PollQueues(Tenant)
	require.NoError(t, err)
	assert.Equal(t, []string{"saas.tenant.00", "saas.tenant.01", "saas.tenant.02", "saas.tenant.03", "saas.tenant.overflow-00"}, queues)
	queues[0] = "mutated"
	again, _ := table.PollQueues(Tenant)
	assert.Equal(t, "saas.tenant.00", again[0], "PollQueues must return a copy")

	custom, err := table.PollQueues("reports")
	require.NoError(t, err)
	assert.Equal(t, "saas.reports.03", custom[3])
	_, err = table.PollQueues("bad kind")
	assert.ErrorIs(t, err, ErrInvalidConfig)

	route, err := table.TenantRoute(Tenant, "acme", 3)
	require.NoError(t, err)
	shard := StableShard("acme", 4)
	assert.Equal(t, Route{Kind: Tenant, Role: ShardQueue, Shard: shard, TaskQueue: TaskQueueName("saas", Tenant, shard), Overflow: "saas.tenant.overflow-00", FairnessKey: "acme", FairnessWeight: 3}, route)

	hot, err := table.HotRoute(Tenant, "acme", 3)
	require.NoError(t, err)
	assert.Equal(t, Route{Kind: Tenant, Role: OverflowQueue, Shard: shard, TaskQueue: "saas.tenant.overflow-00", Overflow: "saas.tenant.overflow-00", FairnessKey: "acme", FairnessWeight: 3}, hot)
	assert.Equal(t, hot, route.Hot(), "HotRoute is the route's Hot")

	_, err = table.TenantRoute(Tenant, " acme", 0)
	assert.ErrorIs(t, err, ErrInvalidTenant)
	_, err = table.TenantRoute(Tenant, "acme", -1)
	assert.ErrorIs(t, err, ErrInvalidWeight)
	_, err = table.TenantRoute("a.b", "acme", 0)
	assert.ErrorIs(t, err, ErrInvalidConfig)

	job, err := table.JobRoute(Jobs)
	require.NoError(t, err)
	assert.Equal(t, Route{Kind: Jobs, Role: ShardQueue, TaskQueue: "saas.jobs.00"}, job)
	viaTenant, err := table.TenantRoute(Jobs, "acme", 2)
	require.NoError(t, err)
	assert.Equal(t, job, viaTenant, "a kind that is not tenant-scoped ignores the tenant")

	assert.True(t, table.IsRouted("saas.tenant.03"))
	assert.True(t, table.IsRouted("saas.tenant.63"), "queues of an earlier, larger shard count are routed too")
	assert.True(t, table.IsRouted("saas.tenant.overflow-00"))
	assert.True(t, table.IsRouted("saas.tenant.pinned-old"), "a pin of an earlier configuration is routed too")
	assert.False(t, table.IsRouted("main-queue"))
	assert.Equal(t, Config{Prefix: "saas", Shards: 4}, table.Config())
}

func TestTenantScoped(t *testing.T) {
	plain, err := NewTable(Config{Prefix: "saas", Shards: 4})
	require.NoError(t, err)
	declared, err := NewTable(Config{Prefix: "saas", Shards: 4, Unscoped: []QueueKind{"cleanup", "cleanup", "reports"}})
	require.NoError(t, err)
	for _, table := range []*Table{plain, declared} {
		assert.True(t, table.TenantScoped(Tenant))
		assert.False(t, table.TenantScoped(Jobs), "jobs is never tenant-scoped")
		assert.True(t, table.TenantScoped("billing"), "a kind not declared is tenant-scoped")
	}
	assert.True(t, plain.TenantScoped("cleanup"))
	assert.False(t, declared.TenantScoped("cleanup"))
	assert.False(t, declared.TenantScoped("reports"))

	// The deprecated method answers for a Config that declares nothing.
	for _, k := range []QueueKind{Tenant, Jobs, "cleanup", "billing"} {
		assert.Equal(t, plain.TenantScoped(k), k.TenantScoped(), k)
	}

	// A declared kind routes, is polled and is read back like jobs.
	job, err := declared.TenantRoute("cleanup", "acme", 2)
	require.NoError(t, err)
	assert.Equal(t, Route{Kind: "cleanup", Role: ShardQueue, TaskQueue: "saas.cleanup.00"}, job)
	noTenant, err := declared.TenantRoute("cleanup", "", 0)
	require.NoError(t, err, "a kind that is not tenant-scoped needs no tenant")
	assert.Equal(t, job, noTenant)
	polled, err := declared.PollQueues("cleanup")
	require.NoError(t, err)
	assert.Equal(t, []string{"saas.cleanup.00"}, polled)
	where, err := declared.TenantQueues("cleanup", "acme")
	require.NoError(t, err)
	assert.Equal(t, []string{"saas.cleanup.00"}, where)
	scoped, err := plain.TenantRoute("cleanup", "acme", 2)
	require.NoError(t, err)
	assert.Equal(t, "acme", scoped.FairnessKey, "undeclared, the same kind is tenant-scoped")

	for _, bad := range [][]QueueKind{{Tenant}, {"a.b"}, {""}} {
		_, err := NewTable(Config{Prefix: "saas", Shards: 4, Unscoped: bad})
		assert.ErrorIs(t, err, ErrInvalidConfig, "%q", bad)
	}
}

func TestTableAccessors(t *testing.T) {
	pins := map[string]string{"acme": "vip", "globex": "vip"}
	unscoped := []QueueKind{"cleanup"}
	table, err := NewTable(Config{Prefix: "prod.eu", Shards: 4, Pins: pins, Unscoped: unscoped})
	require.NoError(t, err)
	pins["initech"] = "x"
	unscoped[0] = "other"
	assert.Equal(t, "prod.eu", table.Prefix())
	label, ok := table.Pinned("acme")
	assert.True(t, ok)
	assert.Equal(t, "vip", label)
	_, ok = table.Pinned("initech")
	assert.False(t, ok, "NewTable copies the pins")
	assert.False(t, table.TenantScoped("cleanup"), "NewTable copies Unscoped")
	cfg := table.Config()
	cfg.Unscoped[0] = "mutated"
	assert.False(t, table.TenantScoped("cleanup"), "Config returns a copy")

	empty, err := NewTable(Config{Prefix: "saas", Shards: 1})
	require.NoError(t, err)
	_, ok = empty.Pinned("acme")
	assert.False(t, ok)
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		_, _ = table.Pinned("acme")
		_ = table.Prefix()
		_ = table.TenantScoped("cleanup")
	}))
}

// TestDivisorIsModulo: the table's division-free pick is the reference
// algorithm's modulo for every shard count a Config accepts, and beyond.
func TestDivisorIsModulo(t *testing.T) {
	xs := []uint32{0, 1, 2, 3, 1023, 1024, 1025, 1<<31 - 1, 1 << 31, 1<<31 + 1, math.MaxUint32 - 1, math.MaxUint32}
	for i := range uint32(2000) {
		xs = append(xs, i*2654435761) // spread over the range
	}
	ns := []int{1<<31 - 1, 1 << 31, math.MaxUint32}
	for n := 1; n <= MaxShards+1; n++ {
		ns = append(ns, n)
	}
	var sum [sha256.Size]byte
	for _, n := range ns {
		d := newDivisor(n)
		for _, x := range append(xs, uint32(n-1), uint32(n), uint32(n+1)) {
			binary.BigEndian.PutUint32(sum[4:], x)
			if got, want := d.pick(&sum, 4), pick(&sum, 4, n); got != want {
				t.Fatalf("divisor(%d).pick(%d) = %d, want %d", n, x, got, want)
			}
		}
	}
}

// TestPollQueuesCoverEveryRoute: whatever route the table computes, for any
// tenant, kind, pin and hotness, is among the queues its kind's workers poll.
func TestPollQueuesCoverEveryRoute(t *testing.T) {
	for _, cfg := range []Config{
		{Prefix: "saas", Shards: 3},
		{Prefix: "saas", Shards: 32, Overflow: 4, Pins: map[string]string{"tenant-7": "seven", "tenant-8": "seven", "tenant-9": "nine"}},
		{Prefix: "saas", Shards: 1, Overflow: NoOverflow, Pins: map[string]string{"tenant-1": "one"}},
	} {
		table, err := NewTable(cfg)
		require.NoError(t, err)
		for _, kind := range []QueueKind{Tenant, Jobs, "reports"} {
			polled, err := table.PollQueues(kind)
			require.NoError(t, err)
			assert.Len(t, polled, len(slices.Compact(slices.Sorted(slices.Values(polled)))), "no queue twice")
			for i := range 200 {
				tenant := fmt.Sprintf("tenant-%d", i)
				home, err := table.TenantRoute(kind, tenant, 0)
				require.NoError(t, err)
				hot, err := table.HotRoute(kind, tenant, 0)
				require.NoError(t, err)
				where, err := table.TenantQueues(kind, tenant)
				require.NoError(t, err)
				for _, r := range []Route{home, hot} {
					assert.Contains(t, polled, r.TaskQueue, "%+v %s %s", cfg, kind, tenant)
					assert.Contains(t, where, r.TaskQueue, "TenantQueues(%s, %s)", kind, tenant)
					d, ok := ParseTaskQueue(cfg.Prefix, r.TaskQueue)
					require.True(t, ok, r.TaskQueue)
					assert.Equal(t, kind, d.Kind)
					assert.Equal(t, r.Role, d.Role)
				}
				if label, ok := cfg.Pins[tenant]; ok && table.TenantScoped(kind) {
					assert.Equal(t, PinnedQueueName("saas", kind, label), hot.TaskQueue, "a pinned tenant is never overflowed")
				}
			}
		}
	}
}

func TestPollQueuesShardSubset(t *testing.T) {
	table, err := NewTable(Config{Prefix: "saas", Shards: 8, Pins: map[string]string{"acme": "acme"}})
	require.NoError(t, err)
	q, err := table.PollQueues(Tenant, 2, 3, 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"saas.tenant.02", "saas.tenant.03", "saas.tenant.overflow-00", "saas.tenant.pinned-acme"}, q)
	q, err = table.PollQueues(Jobs, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"saas.jobs.00"}, q)
	_, err = table.PollQueues(Tenant, 8)
	assert.ErrorIs(t, err, ErrInvalidConfig)
	_, err = table.PollQueues(Jobs, 1)
	assert.ErrorIs(t, err, ErrInvalidConfig, "a jobs kind has one queue")
}

// TestOverflowSpreadsAShardsTenants: the overflow queue is picked by other
// hash bytes than the shard, so one shard's tenants use every overflow
// queue.
func TestOverflowSpreadsAShardsTenants(t *testing.T) {
	table, err := NewTable(Config{Prefix: "saas", Shards: 4, Overflow: 4})
	require.NoError(t, err)
	used := map[string]bool{}
	for i := range 400 {
		r, err := table.HotRoute(Tenant, fmt.Sprintf("t-%d", i), 0)
		require.NoError(t, err)
		if r.Shard == 0 {
			used[r.TaskQueue] = true
		}
		sum := sha256.Sum256([]byte(fmt.Sprintf("t-%d", i)))
		assert.Equal(t, OverflowQueueName("saas", Tenant, int(binary.BigEndian.Uint32(sum[4:8])%4)), r.TaskQueue)
	}
	assert.Len(t, used, 4)
}

func TestTableConfigIsACopy(t *testing.T) {
	pins := map[string]string{"acme": "acme"}
	table, err := NewTable(Config{Prefix: "saas", Shards: 2, Pins: pins})
	require.NoError(t, err)
	pins["acme"] = "other"
	table.Config().Pins["acme"] = "changed"
	r, err := table.TenantRoute(Tenant, "acme", 0)
	require.NoError(t, err)
	assert.Equal(t, "saas.tenant.pinned-acme", r.TaskQueue)
}

func TestOneShardRoutesEverythingToZero(t *testing.T) {
	table, err := NewTable(Config{Prefix: "saas", Shards: 1})
	require.NoError(t, err)
	for _, v := range loadVectors(t) {
		if v.TenantID == "" {
			continue
		}
		route, err := table.TenantRoute(Tenant, v.TenantID, 0)
		require.NoError(t, err)
		assert.Equal(t, "saas.tenant.00", route.TaskQueue)
	}
}

func TestTenantRouteDoesNotAllocate(t *testing.T) {
	for _, cfg := range []Config{
		{Prefix: "saas", Shards: 32},
		{Prefix: "saas", Shards: 32, Overflow: 4, Pins: map[string]string{"acme": "acme"}, Unscoped: []QueueKind{"cleanup"}},
	} {
		table, err := NewTable(cfg)
		require.NoError(t, err)
		_, _ = table.TenantRoute("reports", "acme", 0) // builds the kinds' names once
		_, _ = table.TenantRoute("cleanup", "acme", 0)
		allocs := testing.AllocsPerRun(100, func() {
			_, _ = table.TenantRoute(Tenant, "38d69f70-d254-41a7-9ebf-aeab054c8c61", 2)
			_, _ = table.TenantRoute(Tenant, "acme", 2)
			_, _ = table.HotRoute("reports", "38d69f70-d254-41a7-9ebf-aeab054c8c61", 0)
			_, _ = table.TenantRoute(Jobs, "", 0)
			_, _ = table.TenantRoute("cleanup", "acme", 0)
		})
		assert.Zero(t, allocs, "%+v", cfg)
	}
}

func TestTableConcurrentKinds(t *testing.T) {
	table, err := NewTable(Config{Prefix: "saas", Shards: 8, Unscoped: []QueueKind{"e"}})
	require.NoError(t, err)
	kinds := []QueueKind{"a", "b", "c", "d", "e", Tenant, Jobs}
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				k := kinds[(g+i)%len(kinds)]
				r, err := table.TenantRoute(k, "acme", 0)
				if assert.NoError(t, err) {
					want := TaskQueueName("saas", k, StableShard("acme", 8))
					if !table.TenantScoped(k) {
						want = TaskQueueName("saas", k, 0)
					}
					assert.Equal(t, want, r.TaskQueue)
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func FuzzStableShard(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.TenantID, v.Shards)
	}
	f.Fuzz(func(t *testing.T, key string, shards int) {
		got := StableShard(key, shards)
		if got != StableShardReference(key, shards) {
			t.Fatalf("StableShard(%q, %d) = %d, reference says %d", key, shards, got, StableShardReference(key, shards))
		}
		if got < 0 || got >= max(1, shards) {
			t.Fatalf("StableShard(%q, %d) = %d out of range", key, shards, got)
		}
	})
}

func FuzzParseTaskQueue(f *testing.F) {
	f.Add("saas", "saas.tenant.07")
	f.Add("prod.eu", "prod.eu.jobs.123")
	f.Add("saas", "saas.tenant.007")
	f.Add("saas", "main-queue")
	f.Add("saas", "saas.tenant.overflow-03")
	f.Add("saas", "saas.tenant.pinned-acme")
	f.Fuzz(func(t *testing.T, prefix, name string) {
		d, ok := ParseTaskQueue(prefix, name)
		if sp, sd, sok := SplitTaskQueue(name); sok {
			if got, ok := ParseTaskQueue(sp, name); !ok || got != sd {
				t.Fatalf("SplitTaskQueue(%q) = %q, %+v, but ParseTaskQueue says %+v, %v", name, sp, sd, got, ok)
			}
		} else if ok {
			t.Fatalf("SplitTaskQueue(%q) refuses a queue of %q", name, prefix)
		}
		if !ok {
			return
		}
		// Whatever parses must be exactly what the name builders produce.
		var back string
		switch d.Role {
		case ShardQueue:
			back = TaskQueueName(prefix, d.Kind, d.Index)
		case OverflowQueue:
			back = OverflowQueueName(prefix, d.Kind, d.Index)
		case PinnedQueue:
			back = PinnedQueueName(prefix, d.Kind, d.Label)
		}
		if back != name {
			t.Fatalf("ParseTaskQueue(%q, %q) = %+v, but the builder gives %q", prefix, name, d, back)
		}
	})
}

func FuzzTenantRoute(f *testing.F) {
	f.Add("acme", float32(1), 32)
	f.Add("tenant-ü-☃", float32(0), 7)
	f.Add(strings.Repeat("x", 100), float32(1e9), 1)
	f.Add(" acme", float32(-1), 0)
	f.Add("\xff", float32(math.NaN()), 2)
	f.Add(FairnessKey(strings.Repeat("x", 100)), float32(1), 32) // spelled like a derived key: refused
	f.Fuzz(func(t *testing.T, tenant string, weight float32, shards int) {
		table, err := NewTable(Config{Prefix: "saas", Shards: shards})
		if err != nil {
			if shards >= 1 && shards <= MaxShards {
				t.Fatalf("NewTable refused valid shards %d: %v", shards, err)
			}
			return
		}
		route, err := table.TenantRoute(Tenant, tenant, weight)
		_, werr := NormalizeWeight(weight)
		valid := ValidateTenant(tenant) == nil && werr == nil
		if err != nil {
			if valid {
				t.Fatalf("TenantRoute(%q, %v) refused valid input: %v", tenant, weight, err)
			}
			return
		}
		if !valid { // the route's own fast check must not accept more than the rule
			t.Fatalf("TenantRoute(%q, %v) accepted input that ValidateTenant or NormalizeWeight refuses", tenant, weight)
		}
		if route.TaskQueue != TaskQueueName("saas", Tenant, StableShard(tenant, shards)) {
			t.Fatalf("wrong queue %q for %q", route.TaskQueue, tenant)
		}
		if len(route.FairnessKey) == 0 || len(route.FairnessKey) > MaxFairnessKeyLen || !utf8.ValidString(route.FairnessKey) {
			t.Fatalf("bad fairness key %q for tenant %q", route.FairnessKey, tenant)
		}
		if w, _ := NormalizeWeight(weight); route.FairnessWeight != w {
			t.Fatalf("weight %v for %v, NormalizeWeight says %v", route.FairnessWeight, weight, w)
		}
		if route.Overflow != OverflowQueueName("saas", Tenant, 0) {
			t.Fatalf("overflow %q, want the one overflow queue", route.Overflow)
		}
	})
}

// FuzzConfig: a configuration either is refused by Validate, or produces
// queue names that all parse back to their kind and shard.
func FuzzConfig(f *testing.F) {
	f.Add("saas", 32, "tenant")
	f.Add("prod.eu-west_1", 1, "jobs")
	f.Add("a..b", 7, "tenant")
	f.Add("saas", 0, "bad kind")
	f.Add("sääs", 1025, "")
	f.Fuzz(func(t *testing.T, prefix string, shards int, kind string) {
		var declared []QueueKind
		if len(kind)%2 == 1 {
			declared = []QueueKind{QueueKind(kind)} // half the kinds declared not tenant-scoped
		}
		table, err := NewTable(Config{Prefix: prefix, Shards: shards, Unscoped: declared})
		if err != nil {
			return
		}
		queues, err := table.PollQueues(QueueKind(kind))
		if err != nil {
			if ValidateKind(QueueKind(kind)) == nil {
				t.Fatalf("valid kind %q refused: %v", kind, err)
			}
			return
		}
		want := shards + DefaultOverflow
		if !table.TenantScoped(QueueKind(kind)) {
			want = 1
			if QueueKind(kind) != Jobs && declared == nil {
				t.Fatalf("kind %q is not tenant-scoped though not declared", kind)
			}
		}
		if len(queues) != want {
			t.Fatalf("%d queues for %d shards", len(queues), shards)
		}
		for i, q := range queues {
			d, ok := ParseTaskQueue(prefix, q)
			if !ok || d.Kind != QueueKind(kind) || !table.IsRouted(q) {
				t.Fatalf("queue %q does not parse back: %+v %v", q, d, ok)
			}
			if d.Role == ShardQueue && d.Index != i {
				t.Fatalf("queue %q is shard %d at position %d", q, d.Index, i)
			}
		}
	})
}
