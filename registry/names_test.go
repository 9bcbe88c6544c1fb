package registry

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tqrouter/tqrouter/routing"
)

// TestRegisterRefusesInvalidNames: type names follow the rule tenant IDs
// follow (internal/names), with Temporal's own length limit.
func TestRegisterRefusesInvalidNames(t *testing.T) {
	var r Registry
	for _, name := range []string{"\x00", "A\x00", "\x7f", "A\nB", "\xff", "A\u00a0", "\u2028A", " A", "A ", "\t", strings.Repeat("W", MaxTypeNameLen+1)} {
		assert.ErrorIs(t, r.RegisterWorkflow(name, routing.Tenant), ErrInvalidWorkflow, "%q", name)
		assert.ErrorIs(t, r.RegisterActivity(name, routing.Tenant), ErrInvalidWorkflow, "%q", name)
		_, ok := r.Lookup(name)
		assert.False(t, ok, "%q", name)
	}
	for _, name := range []string{"A", "my.pkg.Workflow", "provision v2", "Überweisung", strings.Repeat("W", MaxTypeNameLen)} {
		assert.NoError(t, r.RegisterWorkflow(name, routing.Tenant), "%q", name)
	}
}

// TestRegisterCostDoesNotGrow: registering one more type costs the same
// memory with 10,000 types registered as with 100. A copy-on-write of the
// whole map (quadratic in all: 20,000 types took 12.6 s) allocates in
// proportion to the types already there. Memory, not time: it does not
// depend on how busy the machine is.
func TestRegisterCostDoesNotGrow(t *testing.T) {
	perType := func(n int) uint64 {
		var r Registry
		for i := range n {
			require.NoError(t, r.RegisterWorkflow(fmt.Sprintf("Type%d", i), routing.Tenant))
		}
		names := make([]string, 100)
		for i := range names {
			names[i] = fmt.Sprintf("More%d", i)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, name := range names {
			if err := r.RegisterWorkflow(name, routing.Tenant); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / uint64(len(names))
	}
	small, large := perType(100), perType(10_000)
	t.Logf("bytes allocated per registration: %d with 100 types, %d with 10,000", small, large)
	assert.LessOrEqual(t, large, 2*small+256)
}
