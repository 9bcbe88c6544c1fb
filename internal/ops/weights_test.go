package ops

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/tqrouter/tqrouter/routing"
)

func TestParseWeights(t *testing.T) {
	long := strings.Repeat("t", 100)
	got, err := ParseWeights(strings.NewReader(
		"# tenants and weights\n" +
			"\n" +
			"acme 2\n" +
			"globex \t0.5  \r\n" +
			"  # indented comment\n" +
			"big corp 1000\n" +
			long + " 0.001\n" +
			"tenant-ü-☃ 1e1\n"))
	require.NoError(t, err)
	require.Equal(t, []Weight{
		{Tenant: "acme", Weight: 2, Line: 3},
		{Tenant: "globex", Weight: 0.5, Line: 4},
		{Tenant: "big corp", Weight: 1000, Line: 6},
		{Tenant: long, Weight: 0.001, Line: 7},
		{Tenant: "tenant-ü-☃", Weight: 10, Line: 8},
	}, got)

	empty, err := ParseWeights(strings.NewReader("# nothing\n\n"))
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestParseWeightsRefuses(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"one field", "acme\n", "line 1: want TENANT WEIGHT"},
		{"not a number", "acme two\n", `line 1: weight "two" is not a number`},
		{"zero", "acme 0\n", "line 1: weight 0 outside"},
		{"negative", "# c\nacme -1\n", "line 2: weight -1 outside"},
		{"too small", "acme 0.0001\n", "outside"},
		{"too large", "acme 1001\n", "outside"},
		{"infinite", "acme +Inf\n", "outside"},
		{"NaN", "acme NaN\n", "outside"},
		{"duplicate", "acme 1\nglobex 1\nacme 2\n", `line 3: tenant "acme" already on line 1`},
		{"control character", "ac\x01me 1\n", "line 1: tqrouter: invalid tenant ID"},
		// The router refuses " acme": the file does not trim it into "acme".
		{"leading space", "acme 1\n  globex 2\n", `line 2: tqrouter: invalid tenant ID: surrounding white space in "  globex"`},
		{"leading tab", "\tacme 1\n", "line 1: tqrouter: invalid tenant ID: surrounding white space"},
		{"leading no-break space", "\u00a0acme 1\n", "line 1: tqrouter: invalid tenant ID: surrounding white space"},
		{"weight only", "  2\n", "line 1: want TENANT WEIGHT"},
		{"trailing no-break space", "acme\u00a0 2\n", "line 1: tqrouter: invalid tenant ID: surrounding white space"},
		{"no-break space as separator", "acme\u00a02\n", "line 1: want TENANT WEIGHT"},
		{"not UTF-8", "ac\xffme 1\n", "not valid UTF-8"},
		{"tenant too long", strings.Repeat("t", 256) + " 1\n", "more than 255"},
		{"line too long", "acme 1\n" + strings.Repeat("t", MaxWeightsLine+1) + " 1\n", "line 2: longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWeights(strings.NewReader(tt.file))
			require.ErrorIs(t, err, ErrWeightsFile)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// FuzzParseWeights: any input gives weights the server and the router
// accept, or an error wrapping ErrWeightsFile; never a panic.
func FuzzParseWeights(f *testing.F) {
	for _, seed := range []string{
		"acme 2\nglobex 0.5\n",
		"# c\n\nbig corp \t 3 \r\n",
		" acme 1\n",
		"acme\u00a0 1\n",
		"acme\n",
		"acme 1\nacme 1\n",
		"x 1e-3\ny 1e3\nz 0x1p-2\n",
		"ac\x00me 1\n",
		strings.Repeat("t", 300) + " 1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, file string) {
		ws, err := ParseWeights(strings.NewReader(file))
		if err != nil {
			if !errors.Is(err, ErrWeightsFile) {
				t.Fatalf("error does not wrap ErrWeightsFile: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		lines := strings.Split(file, "\n")
		for _, w := range ws {
			// The tenant is the line's start, as written: nothing trimmed.
			if !strings.HasPrefix(lines[w.Line-1], w.Tenant) {
				t.Fatalf("line %d %q gave tenant %q, not its start", w.Line, lines[w.Line-1], w.Tenant)
			}
			if err := routing.ValidateTenant(w.Tenant); err != nil {
				t.Fatalf("accepted invalid tenant %q: %v", w.Tenant, err)
			}
			if !utf8.ValidString(w.Tenant) || seen[w.Tenant] {
				t.Fatalf("accepted %q twice or not UTF-8", w.Tenant)
			}
			seen[w.Tenant] = true
			if math.IsNaN(float64(w.Weight)) || w.Weight < routing.MinWeight || w.Weight > routing.MaxWeight {
				t.Fatalf("accepted weight %v", w.Weight)
			}
			if len(routing.FairnessKey(w.Tenant)) > routing.MaxFairnessKeyLen {
				t.Fatalf("fairness key of %q too long", w.Tenant)
			}
		}
	})
}

func TestPlanWeights(t *testing.T) {
	long := strings.Repeat("L", 80)
	table, err := routing.NewTable(routing.Config{Prefix: "p", Shards: 4, Pins: map[string]string{"hot": "hot"}})
	require.NoError(t, err)
	weights := []Weight{{Tenant: "acme", Weight: 2, Line: 1}, {Tenant: long, Weight: 3, Line: 2}, {Tenant: "hot", Weight: 5, Line: 3}}
	plan, err := PlanWeights(table, []routing.QueueKind{routing.Tenant, routing.Jobs}, weights, DefaultMaxOverrides)
	require.NoError(t, err)

	// Every polled queue of the tenant kind is in the plan, jobs' is not.
	polled, err := table.PollQueues(routing.Tenant)
	require.NoError(t, err)
	var names []string
	byQueue := map[string]map[string]float32{}
	for _, qw := range plan {
		names = append(names, qw.Queue)
		byQueue[qw.Queue] = qw.Overrides
	}
	require.Equal(t, polled, names)

	// Each tenant's key is on exactly the queues its starts can land on.
	for _, w := range weights {
		key := routing.FairnessKey(w.Tenant)
		want, err := table.TenantQueues(routing.Tenant, w.Tenant)
		require.NoError(t, err)
		var got []string
		for _, q := range names {
			if weight, ok := byQueue[q][key]; ok {
				require.Equal(t, w.Weight, weight)
				got = append(got, q)
			}
		}
		require.ElementsMatch(t, want, got, w.Tenant)
	}
	require.Equal(t, map[string]float32{"hot": 5}, byQueue["p.tenant.pinned-hot"])
	require.Contains(t, byQueue["p.tenant.overflow-00"], routing.FairnessKey(long), "the derived key, as the router sends it")
	require.NotContains(t, byQueue["p.tenant.overflow-00"], long)
}

func TestPlanWeightsRefusesOverTheLimit(t *testing.T) {
	table, err := routing.NewTable(routing.Config{Prefix: "p", Shards: 2})
	require.NoError(t, err)
	var weights []Weight
	for i := range 5 {
		weights = append(weights, Weight{Tenant: fmt.Sprintf("t%d", i), Weight: 1, Line: i + 1})
	}
	_, err = PlanWeights(table, []routing.QueueKind{routing.Tenant}, weights, 4)
	require.ErrorIs(t, err, ErrTooManyOverrides)
	// Every tenant lands on the one overflow queue: it has 5.
	require.ErrorContains(t, err, "p.tenant.overflow-00 (5)")
	_, err = PlanWeights(table, []routing.QueueKind{routing.Tenant}, weights, 5)
	require.NoError(t, err)
}

// TestPlanWeightsOverflowAdvice: more tenants than the limit always fill
// the default single overflow queue, whatever the shards; the error says
// that more overflow queues help, with a count that does fit, and does not
// suggest shards when no shard queue is over.
func TestPlanWeightsOverflowAdvice(t *testing.T) {
	var weights []Weight
	for i := range 1001 {
		weights = append(weights, Weight{Tenant: fmt.Sprintf("tenant-%04d", i), Weight: 2, Line: i + 1})
	}
	kinds := []routing.QueueKind{routing.Tenant}
	table, err := routing.NewTable(routing.Config{Prefix: "p", Shards: 64})
	require.NoError(t, err)
	_, err = PlanWeights(table, kinds, weights, DefaultMaxOverrides)
	require.ErrorIs(t, err, ErrTooManyOverrides)
	require.ErrorContains(t, err, "more than 1000 on p.tenant.overflow-00 (1001); nothing was written")
	require.ErrorContains(t, err, "--overflow 2 fits these tenants")
	require.NotContains(t, err.Error(), "--shards", "shards do not help an overflow queue")

	// The advice holds: with 2 overflow queues the plan fits.
	table, err = routing.NewTable(routing.Config{Prefix: "p", Shards: 64, Overflow: 2})
	require.NoError(t, err)
	_, err = PlanWeights(table, kinds, weights, DefaultMaxOverrides)
	require.NoError(t, err)

	// With one shard, the shard queue is over too: both help.
	table, err = routing.NewTable(routing.Config{Prefix: "p", Shards: 1})
	require.NoError(t, err)
	_, err = PlanWeights(table, kinds, weights, DefaultMaxOverrides)
	require.ErrorContains(t, err, "--overflow 2 fits")
	require.ErrorContains(t, err, "more shards (--shards)")
}

func TestDiff(t *testing.T) {
	plan := []QueueWeights{{Queue: "q", Overrides: map[string]float32{"a": 2, "b": 3}}}
	rate := float32(5)
	current := []QueueConfig{
		{Queue: "q", Type: enumspb.TASK_QUEUE_TYPE_WORKFLOW, Overrides: map[string]float32{"a": 2, "b": 1, "c": 4}},
		{Queue: "q", Type: enumspb.TASK_QUEUE_TYPE_ACTIVITY, Overrides: map[string]float32{"a": 2, "b": 3}, KeyRate: &rate},
		{Queue: "other", Type: enumspb.TASK_QUEUE_TYPE_WORKFLOW, Overrides: map[string]float32{"z": 1}},
	}
	changes := Diff(plan, current, KeyRate{})
	require.Equal(t, []Change{{Queue: "q", Type: enumspb.TASK_QUEUE_TYPE_WORKFLOW, Set: map[string]float32{"b": 3}, Unset: []string{"c"}}}, changes)

	// The same rate changes nothing; another one changes activity tasks only.
	require.Len(t, Diff(plan, current, KeyRate{Set: true, PerSecond: 5}), 1)
	changes = Diff(plan, current[1:2], KeyRate{Set: true, PerSecond: 7})
	require.Equal(t, &KeyRate{Set: true, PerSecond: 7}, changes[0].KeyRate)
	changes = Diff(plan, current[1:2], KeyRate{Set: true, Remove: true})
	require.Equal(t, &KeyRate{Set: true, Remove: true}, changes[0].KeyRate)
	require.Empty(t, Diff(plan, []QueueConfig{{Queue: "q", Type: enumspb.TASK_QUEUE_TYPE_ACTIVITY, Overrides: map[string]float32{"a": 2, "b": 3}}}, KeyRate{Set: true, Remove: true}))
}
