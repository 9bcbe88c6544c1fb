package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tqrouter/tqrouter/internal/devserver"
	"github.com/tqrouter/tqrouter/routing"
)

// TestNewCastGolden pins the cast of the demo's default seed: the README
// and BENCHMARKS.md name these tenants, and a change of the draw would
// silently change every published figure.
func TestNewCastGolden(t *testing.T) {
	c := NewCast(1, 12)
	require.Equal(t, "t-57a09d", c.Noisy)
	require.Equal(t, []string{
		"t-8c1eec", "t-062c48", "t-5a24ad", "t-41777b", "t-dfdf27", "t-7464fc",
		"t-c3231c", "t-83a083", "t-4795d2", "t-723f2b", "t-09bda0", "t-8d3de5",
	}, c.Quiet)
	require.Equal(t, []string{"t-8c1eec", "t-062c48", "t-5a24ad", "t-41777b", "t-723f2b", "t-8d3de5"}, c.ShardMates(3))
	require.Equal(t, NewCast(1, 12), c, "the same seed gives the same cast")
	require.NotEqual(t, c.Noisy, NewCast(2, 12).Noisy, "another seed, another cast")
}

// TestCastClassIsTheShard checks the classification against
// routing.StableShard, for several seeds and shard counts.
func TestCastClassIsTheShard(t *testing.T) {
	for seed := range uint64(20) {
		c := NewCast(seed, 12)
		for _, shards := range []int{1, 3, 8} {
			mates := map[string]bool{}
			for _, m := range c.ShardMates(shards) {
				mates[m] = true
			}
			for _, q := range c.Quiet {
				same := routing.StableShard(q, shards) == routing.StableShard(c.Noisy, shards)
				require.Equal(t, same, mates[q], "seed %d, %d shards, tenant %s", seed, shards, q)
				require.Equal(t, map[bool]string{true: ShardMates, false: Quiet}[same], c.Class(q, shards))
			}
			if shards == 1 {
				require.Len(t, mates, len(c.Quiet), "with one shard every quiet tenant is a shard mate")
			}
		}
	}
}

var castID = regexp.MustCompile(`^t-[0-9a-f]{6}$`)

// FuzzNewCast: any seed gives distinct, routable IDs of the documented
// shape, the same ones twice.
func FuzzNewCast(f *testing.F) {
	f.Add(uint64(1), uint8(12))
	f.Add(uint64(0), uint8(0))
	f.Add(^uint64(0), uint8(255))
	f.Fuzz(func(t *testing.T, seed uint64, n uint8) {
		c := NewCast(seed, int(n))
		require.Len(t, c.Quiet, int(n))
		seen := map[string]bool{}
		for _, id := range append([]string{c.Noisy}, c.Quiet...) {
			require.Regexp(t, castID, id)
			require.NoError(t, routing.ValidateTenant(id))
			require.False(t, seen[id], "duplicate %s", id)
			seen[id] = true
		}
		require.Equal(t, c, NewCast(seed, int(n)))
	})
}

func TestSummarize(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := func(class string, wait, start, end int) sample {
		return sample{class: class, wait: time.Duration(wait) * time.Millisecond, close: time.Duration(end-start) * time.Millisecond,
			started: t0.Add(time.Duration(start) * time.Millisecond), finished: t0.Add(time.Duration(end) * time.Millisecond)}
	}
	seen := func(s sample, tenant, seen string) sample { s.tenant, s.seen = tenant, seen; return s }
	samples := []sample{
		seen(s(Noisy, 30, 5, 900), "t-1", "t-1"), seen(s(Noisy, 10, 0, 400), "t-1", ""), seen(s(Noisy, 20, 2, 600), "t-1", "t-1"),
		seen(s(Quiet, 7, 100, 200), "t-2", "t-1"), seen(s(ShardMates, 9, 100, 300), "t-3", "t-3"), s(Jobs, 5, 100, 200),
	}
	r := summarize(samples, true)
	twoThirds := 2.0 / 3
	require.Equal(t, Stats{Count: 3, P50: 20, P95: 30, P99: 30, Max: 30, CloseP50: 598, CloseP95: 895, Makespan: 900, TenantSeen: &twoThirds}, r.Noisy)
	require.Equal(t, 1, r.Quiet.Count)
	require.Equal(t, 0.0, *r.Quiet.TenantSeen, "another tenant's is not its own")
	require.Equal(t, 9.0, r.ShardMates.P95)
	require.Equal(t, 1.0, *r.ShardMates.TenantSeen)
	require.Equal(t, 1, r.Jobs.Count)
	require.Nil(t, r.Jobs.TenantSeen, "jobs have no tenant")
	require.Nil(t, summarize(nil, true).Quiet.TenantSeen, "no samples, no fraction")
	require.Zero(t, summarize(samples, false).Noisy.Makespan, "an abandoned flood has no makespan")
}

// TestFinish: a workflow finished when it says it did, not when run.Get
// heard of it, unless its account is missing or later than the result
// (a server clock ahead of the caller's).
func TestFinish(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tt := range []struct {
		name          string
		finished, got time.Time
		want          time.Time
		wantLate      bool
	}{
		{name: "result at once", finished: t0, got: t0.Add(5 * time.Millisecond), want: t0},
		{name: "result late", finished: t0, got: t0.Add(20 * time.Second), want: t0, wantLate: true},
		{name: "result just in time", finished: t0, got: t0.Add(lateResult), want: t0},
		{name: "no account", got: t0, want: t0},
		{name: "server clock ahead", finished: t0.Add(time.Second), got: t0, want: t0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, late := finish(tt.finished, tt.got)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.wantLate, late)
		})
	}
}

// TestResultJSON pins the JSON names that the demo's --json output and the
// benchmark's files promise.
func TestResultJSON(t *testing.T) {
	raw, err := json.Marshal(Result{Noisy: Stats{Makespan: 1}})
	require.NoError(t, err)
	var m map[string]map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	for _, class := range Classes() {
		for _, k := range []string{"count", "p50_ms", "p95_ms", "max_ms"} {
			require.Contains(t, m[class], k, class)
		}
	}
	require.Contains(t, m[Noisy], "makespan_ms")
	require.NotContains(t, m[Quiet], "makespan_ms")
	for _, k := range []string{"budget", "peak_running", "clients", "worker_procs", "late_results"} {
		require.Contains(t, m["run"], k)
	}
	raw, err = json.Marshal(Stats{TenantSeen: new(float64)})
	require.NoError(t, err)
	require.Contains(t, string(raw), `"tenant_seen":0`)
}

func TestParseDynamicConfig(t *testing.T) {
	m := map[string]any{}
	require.NoError(t, ParseDynamicConfig("matching.numTaskqueueReadPartitions=1", m))
	require.NoError(t, ParseDynamicConfig("a.b=true", m))
	require.NoError(t, ParseDynamicConfig("c=x=y", m))
	require.Equal(t, map[string]any{"matching.numTaskqueueReadPartitions": 1.0, "a.b": true, "c": "x=y"}, m)
	require.Error(t, ParseDynamicConfig("novalue", m))
	require.Error(t, ParseDynamicConfig("=1", m))
}

// TestRun plays a small scenario on the real dev server, the baseline and
// the routed run, the routed run once more at production shape (several
// API processes and worker processes), and checks what the figures rest
// on: every workflow is counted in its class, the classes are the same in
// every run, the activities never ran more at once than the budgets allow,
// the routed workers passed each workflow's tenant on to its activity
// (the router is in the workers' client.Options.Interceptors), and (checked
// inside Run) the server ran the shard mates' work on the noisy tenant's
// shard queue and no other quiet tenant's.
// It asserts no timing.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Temporal dev server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{})
	if errors.Is(err, devserver.ErrShort) {
		t.Skip(err)
	}
	require.NoError(t, err)
	defer func() { require.NoError(t, srv.Close()) }()

	cfg := Config{Seed: 3, NoisyStarts: 20, QuietTenants: 6, QuietStarts: 2, JobStarts: 3, Work: 20 * time.Millisecond, Slots: 8, Shards: 3, Spread: 500 * time.Millisecond}
	cast := NewCast(cfg.Seed, cfg.QuietTenants)
	mates := len(cast.ShardMates(cfg.Shards))
	require.NotZero(t, mates, "seed 3 has shard mates among 6 tenants")
	env := Env{ClientOptions: srv.ClientOptions()}
	prefix := fmt.Sprintf("test%d", time.Now().UnixNano()%1e6)
	for _, tt := range []struct {
		name              string
		routed            bool
		clients, procs    int
		budget, room      int
		wantTenantSeen    float64
		wantQueuesAtLeast int
	}{
		{name: "baseline", clients: 1, procs: 1, budget: 8, wantTenantSeen: 0, wantQueuesAtLeast: 1},
		{name: "routed", routed: true, clients: 1, procs: 1, budget: 8, room: 4, wantTenantSeen: 1, wantQueuesAtLeast: cfg.Shards + 1},
		// 8 slots over 3 processes: 3+3+2; the default headroom, 8/2 = 4,
		// over 3: 2+1+1.
		{name: "routed/3x2", routed: true, clients: 3, procs: 3, budget: 8, room: 4, wantTenantSeen: 1, wantQueuesAtLeast: cfg.Shards + 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cfg
			cfg.Clients, cfg.WorkerProcs, cfg.Headroom = tt.clients, tt.procs, -1
			r, err := Run(ctx, env, cfg, tt.routed, prefix+"-"+strings.ReplaceAll(tt.name, "/", "-"))
			require.NoError(t, err)
			require.Equal(t, cfg.NoisyStarts, r.Noisy.Count)
			require.Equal(t, mates*cfg.QuietStarts, r.ShardMates.Count)
			require.Equal(t, (cfg.QuietTenants-mates)*cfg.QuietStarts, r.Quiet.Count)
			require.Equal(t, cfg.JobStarts, r.Jobs.Count)
			require.Positive(t, r.Noisy.Makespan)
			require.Equal(t, tt.clients, r.Run.Clients)
			require.Equal(t, tt.procs, r.Run.WorkerProcs)
			require.Equal(t, tt.budget, r.Run.Budget, "the processes' budgets add up to the same budget in every run")
			require.Equal(t, tt.room, r.Run.Headroom)
			require.Positive(t, r.Run.PeakRunning)
			// A shared budget may run past its limit by at most one task per
			// activity poller of each queue (2 by default), as workers.Budget
			// documents; one worker with fixed slots never does.
			bound := r.Run.Budget
			if tt.routed {
				bound += 2 * r.Run.Queues * tt.procs
			}
			require.LessOrEqual(t, r.Run.PeakRunning, bound)
			require.Equal(t, cast.Noisy, r.Run.NoisyTenant)
			require.Equal(t, cast.ShardMates(cfg.Shards), r.Run.ShardMateTenants)
			require.GreaterOrEqual(t, r.Run.Queues, tt.wantQueuesAtLeast)
			for _, class := range []string{Quiet, ShardMates, Noisy} {
				require.NotNil(t, r.Class(class).TenantSeen, class)
				require.Equal(t, tt.wantTenantSeen, *r.Class(class).TenantSeen, "%s: the fraction of activities that read their own tenant", class)
			}
			require.Nil(t, r.Jobs.TenantSeen, "jobs have no tenant")
		})
	}
}

func TestShares(t *testing.T) {
	for _, tt := range []struct{ n, procs int }{{12, 1}, {12, 2}, {12, 5}, {8, 3}, {4, 3}, {0, 2}, {3, 3}} {
		got := Shares(tt.n, tt.procs)
		require.Len(t, got, tt.procs)
		sum := 0
		for i, s := range got {
			require.InDelta(t, float64(tt.n)/float64(tt.procs), s, 1, "%d over %d, process %d", tt.n, tt.procs, i)
			sum += s
		}
		require.Equal(t, tt.n, sum, "%d over %d adds up", tt.n, tt.procs)
	}
	require.Equal(t, []int{3, 3, 2}, Shares(8, 3), "the first processes take the remainder")
	require.Equal(t, []int{1, 1, 0}, Shares(2, 3))
}
