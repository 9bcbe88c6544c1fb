package routing

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
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
		kind         QueueKind
		shard        int
		ok           bool
	}{
		{"saas", "saas.tenant.07", Tenant, 7, true},
		{"saas", "saas.jobs.00", Jobs, 0, true},
		{"saas", "saas.tenant.123", Tenant, 123, true},
		{"prod.eu", "prod.eu.reports.01", "reports", 1, true},
		{"saas", "saas.tenant.7", "", 0, false},     // not padded
		{"saas", "saas.tenant.007", "", 0, false},   // over-padded
		{"saas", "saas.tenant.1024", "", 0, false},  // above MaxShards
		{"saas", "saas.tenant.0x", "", 0, false},    // not digits
		{"saas", "saas.a.b.01", "", 0, false},       // kind with a dot
		{"saas", "saasx.tenant.01", "", 0, false},   // other prefix
		{"saas", "main-queue", "", 0, false},        // legacy queue
		{"saas", "saas..01", "", 0, false},          // empty kind
		{"saas", "saas.tenant.", "", 0, false},      // no shard
		{"", ".tenant.01", "", 0, false},            // no prefix
		{"saas", "saas.tenant.-1", "", 0, false},    // negative
		{"saas", "saas.tenant.01 ", "", 0, false},   // trailing space
		{"saas", "saas.ten ant.01", "", 0, false},   // space in kind
		{"saas", "saas.tenant.01.02", "", 0, false}, // extra segment
	}
	for _, tt := range tests {
		kind, shard, ok := ParseTaskQueue(tt.prefix, tt.name)
		assert.Equal(t, tt.ok, ok, "ParseTaskQueue(%q, %q)", tt.prefix, tt.name)
		assert.Equal(t, tt.kind, kind, "ParseTaskQueue(%q, %q)", tt.prefix, tt.name)
		assert.Equal(t, tt.shard, shard, "ParseTaskQueue(%q, %q)", tt.prefix, tt.name)
	}
}

func TestConfigValidate(t *testing.T) {
	valid := []Config{
		{Prefix: "saas", Shards: 1},
		{Prefix: "saas", Shards: MaxShards},
		{Prefix: "prod.eu-west_1", Shards: 32, Namespace: "billing"},
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
		{Prefix: "saas", Shards: 1, Namespace: " default"},
	}
	for _, c := range invalid {
		err := c.Validate()
		assert.ErrorIs(t, err, ErrInvalidConfig, "%+v", c)
		_, err = NewTable(c)
		assert.ErrorIs(t, err, ErrInvalidConfig, "NewTable(%+v)", c)
	}
	assert.Equal(t, "default", Config{}.NamespaceOrDefault())
	assert.Equal(t, "billing", Config{Namespace: "billing"}.NamespaceOrDefault())
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

	queues, err := table.Queues(Tenant)
	require.NoError(t, err)
	assert.Equal(t, []string{"saas.tenant.00", "saas.tenant.01", "saas.tenant.02", "saas.tenant.03"}, queues)
	queues[0] = "mutated"
	again, _ := table.Queues(Tenant)
	assert.Equal(t, "saas.tenant.00", again[0], "Queues must return a copy")

	custom, err := table.Queues("reports")
	require.NoError(t, err)
	assert.Equal(t, "saas.reports.03", custom[3])
	_, err = table.Queues("bad kind")
	assert.ErrorIs(t, err, ErrInvalidConfig)

	route, err := table.TenantRoute(Tenant, "acme", 3)
	require.NoError(t, err)
	shard := StableShard("acme", 4)
	assert.Equal(t, Route{Kind: Tenant, Shard: shard, TaskQueue: TaskQueueName("saas", Tenant, shard), FairnessKey: "acme", FairnessWeight: 3}, route)

	_, err = table.TenantRoute(Tenant, " acme", 0)
	assert.ErrorIs(t, err, ErrInvalidTenant)
	_, err = table.TenantRoute(Tenant, "acme", -1)
	assert.ErrorIs(t, err, ErrInvalidWeight)
	_, err = table.TenantRoute("a.b", "acme", 0)
	assert.ErrorIs(t, err, ErrInvalidConfig)

	job, err := table.JobRoute(Jobs)
	require.NoError(t, err)
	assert.Equal(t, Route{Kind: Jobs, TaskQueue: "saas.jobs.00"}, job)

	assert.True(t, table.IsRouted("saas.tenant.03"))
	assert.True(t, table.IsRouted("saas.tenant.63"), "queues of an earlier, larger shard count are routed too")
	assert.False(t, table.IsRouted("main-queue"))
	assert.Equal(t, Config{Prefix: "saas", Shards: 4}, table.Config())
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
	table, err := NewTable(Config{Prefix: "saas", Shards: 32})
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = table.TenantRoute(Tenant, "38d69f70-d254-41a7-9ebf-aeab054c8c61", 2)
	})
	assert.Zero(t, allocs)
}

func TestTableConcurrentKinds(t *testing.T) {
	table, err := NewTable(Config{Prefix: "saas", Shards: 8})
	require.NoError(t, err)
	kinds := []QueueKind{"a", "b", "c", "d", Tenant, Jobs}
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				k := kinds[(g+i)%len(kinds)]
				r, err := table.TenantRoute(k, "acme", 0)
				if assert.NoError(t, err) {
					assert.Equal(t, TaskQueueName("saas", k, StableShard("acme", 8)), r.TaskQueue)
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
	f.Fuzz(func(t *testing.T, prefix, name string) {
		kind, shard, ok := ParseTaskQueue(prefix, name)
		if !ok {
			return
		}
		// Whatever parses must be exactly what TaskQueueName produces.
		if back := TaskQueueName(prefix, kind, shard); back != name {
			t.Fatalf("ParseTaskQueue(%q, %q) = %q, %d, but TaskQueueName gives %q", prefix, name, kind, shard, back)
		}
	})
}

func FuzzTenantRoute(f *testing.F) {
	f.Add("acme", float32(1), 32)
	f.Add("tenant-ü-☃", float32(0), 7)
	f.Add(strings.Repeat("x", 100), float32(1e9), 1)
	f.Add(" acme", float32(-1), 0)
	f.Add("\xff", float32(math.NaN()), 2)
	f.Fuzz(func(t *testing.T, tenant string, weight float32, shards int) {
		table, err := NewTable(Config{Prefix: "saas", Shards: shards})
		if err != nil {
			if shards >= 1 && shards <= MaxShards {
				t.Fatalf("NewTable refused valid shards %d: %v", shards, err)
			}
			return
		}
		route, err := table.TenantRoute(Tenant, tenant, weight)
		if err != nil {
			if ValidateTenant(tenant) == nil {
				if _, werr := NormalizeWeight(weight); werr == nil {
					t.Fatalf("TenantRoute(%q, %v) refused valid input: %v", tenant, weight, err)
				}
			}
			return
		}
		if route.TaskQueue != TaskQueueName("saas", Tenant, StableShard(tenant, shards)) {
			t.Fatalf("wrong queue %q for %q", route.TaskQueue, tenant)
		}
		if len(route.FairnessKey) == 0 || len(route.FairnessKey) > MaxFairnessKeyLen || !utf8.ValidString(route.FairnessKey) {
			t.Fatalf("bad fairness key %q for tenant %q", route.FairnessKey, tenant)
		}
		if w := route.FairnessWeight; w != 0 && (w < MinWeight || w > MaxWeight) {
			t.Fatalf("weight %v out of range", w)
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
		table, err := NewTable(Config{Prefix: prefix, Shards: shards})
		if err != nil {
			return
		}
		queues, err := table.Queues(QueueKind(kind))
		if err != nil {
			if ValidateKind(QueueKind(kind)) == nil {
				t.Fatalf("valid kind %q refused: %v", kind, err)
			}
			return
		}
		if len(queues) != shards {
			t.Fatalf("%d queues for %d shards", len(queues), shards)
		}
		for i, q := range queues {
			k, s, ok := ParseTaskQueue(prefix, q)
			if !ok || k != QueueKind(kind) || s != i || !table.IsRouted(q) {
				t.Fatalf("queue %q does not parse back: %q %d %v", q, k, s, ok)
			}
		}
	})
}
