package ops

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tqrouter/tqrouter/routing"
)

// TestPlanWeightsRefusesASharedFairnessKey: two lines whose tenants map to
// one fairness key would have one overwrite the other's weight; the plan is
// refused instead, whatever the order of the lines.
func TestPlanWeightsRefusesASharedFairnessKey(t *testing.T) {
	table, err := routing.NewTable(routing.Config{Prefix: "p", Shards: 4})
	require.NoError(t, err)
	kinds := []routing.QueueKind{routing.Tenant}
	long := strings.Repeat("L", 80)
	spoof := routing.FairnessKey(long) // a tenant ID spelled like long's derived key

	for _, weights := range [][]Weight{
		{{Tenant: long, Weight: 5, Line: 1}, {Tenant: spoof, Weight: 1, Line: 2}},
		{{Tenant: spoof, Weight: 1, Line: 2}, {Tenant: long, Weight: 5, Line: 3}},
	} {
		_, err := PlanWeights(table, kinds, weights, DefaultMaxOverrides)
		require.ErrorIs(t, err, routing.ErrInvalidTenant)
		require.ErrorContains(t, err, "line 2", "the spoofing line")
	}

	// The same tenant twice (ParseWeights refuses it; a caller building
	// the list itself may not).
	_, err = PlanWeights(table, kinds, []Weight{{Tenant: "acme", Weight: 5, Line: 1}, {Tenant: "acme", Weight: 1, Line: 7}}, DefaultMaxOverrides)
	require.ErrorIs(t, err, ErrWeightsFile)
	require.ErrorContains(t, err, "line 7")
	require.ErrorContains(t, err, "line 1")
}
