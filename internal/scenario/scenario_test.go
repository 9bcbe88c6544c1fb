package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
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
	samples := []sample{s(Noisy, 30, 5, 900), s(Noisy, 10, 0, 400), s(Noisy, 20, 2, 600), s(Quiet, 7, 100, 200), s(ShardMates, 9, 100, 300)}
	r := summarize(samples, true)
	require.Equal(t, Stats{Count: 3, P50: 20, P95: 30, P99: 30, Max: 30, CloseP50: 598, CloseP95: 895, Makespan: 900}, r.Noisy)
	require.Equal(t, 1, r.Quiet.Count)
	require.Equal(t, 9.0, r.ShardMates.P95)
	require.Zero(t, r.Jobs.Count)
	require.Zero(t, summarize(samples, false).Noisy.Makespan, "an abandoned flood has no makespan")
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
	require.Contains(t, m["run"], "budget")
	require.Contains(t, m["run"], "peak_running")
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

// TestRun plays a small scenario on the real dev server, both ways, and
// checks what the figures rest on: every workflow is counted in its class,
// the classes are the same in both runs, the activities never ran more at
// once than the budget allows, and (checked inside Run) the server ran the
// shard mates' work on the noisy tenant's shard queue and no other quiet
// tenant's.
// It asserts no timing.
func TestRun(t *testing.T) {
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
	var results []Result
	for _, routed := range []bool{false, true} {
		r, err := Run(ctx, env, cfg, routed, prefix)
		require.NoError(t, err)
		require.Equal(t, cfg.NoisyStarts, r.Noisy.Count)
		require.Equal(t, mates*cfg.QuietStarts, r.ShardMates.Count)
		require.Equal(t, (cfg.QuietTenants-mates)*cfg.QuietStarts, r.Quiet.Count)
		require.Equal(t, cfg.JobStarts, r.Jobs.Count)
		require.Positive(t, r.Noisy.Makespan)
		require.Equal(t, cfg.Slots, r.Run.Budget, "the same budget in both runs")
		require.Positive(t, r.Run.PeakRunning)
		// A shared budget may run past its limit by at most one task per
		// activity poller of each queue (2 by default), as workers.Budget
		// documents; one worker with fixed slots never does.
		bound := r.Run.Budget
		if routed {
			bound += 2 * r.Run.Queues
		}
		require.LessOrEqual(t, r.Run.PeakRunning, bound)
		require.Equal(t, cast.Noisy, r.Run.NoisyTenant)
		require.Equal(t, cast.ShardMates(cfg.Shards), r.Run.ShardMateTenants)
		results = append(results, r)
	}
	require.Equal(t, 1, results[0].Run.Queues)
	require.Equal(t, cfg.Slots, results[0].Run.Budget, "the baseline's one worker has the whole budget")
	require.GreaterOrEqual(t, results[1].Run.Queues, cfg.Shards+1, "every shard and the jobs queue")
}
