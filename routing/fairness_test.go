package routing

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDerivedKeyIsNotATenant: a tenant ID spelled like another tenant's
// derived fairness key would share that tenant's key, so its fairness and
// its weight overrides; it is refused everywhere a tenant is accepted.
func TestDerivedKeyIsNotATenant(t *testing.T) {
	long := strings.Repeat("a", 100)
	derived := FairnessKey(long)
	require.Len(t, derived, MaxFairnessKeyLen)

	assert.ErrorIs(t, ValidateTenant(derived), ErrInvalidTenant)
	table, err := NewTable(Config{Prefix: "saas", Shards: 4})
	require.NoError(t, err)
	_, err = table.TenantRoute(Tenant, derived, 0)
	assert.ErrorIs(t, err, ErrInvalidTenant)
	_, err = NewTable(Config{Prefix: "saas", Shards: 4, Pins: map[string]string{derived: "x"}})
	assert.ErrorIs(t, err, ErrInvalidConfig)

	// Only the exact form is refused: ordinary IDs near it keep their keys.
	for _, id := range []string{
		"sha256:",
		"sha256:abc",
		derived[:MaxFairnessKeyLen-1],
		derived + "0",
		"SHA256:" + derived[7:],
		"sha256:" + strings.ToUpper(derived[7:]),
		"sha256:" + strings.Repeat("g", 57),
		"sha256-" + derived[7:],
	} {
		if assert.NoError(t, ValidateTenant(id), "%q", id) {
			assert.Equal(t, id[:min(len(id), MaxFairnessKeyLen)] == id, FairnessKey(id) == id, "%q", id)
		}
	}
}

func TestFairnessKeyTenant(t *testing.T) {
	for _, tt := range []struct {
		key, tenant string
		ok          bool
	}{
		{"acme", "acme", true},
		{strings.Repeat("k", MaxFairnessKeyLen), strings.Repeat("k", MaxFairnessKeyLen), true},
		{FairnessKey(strings.Repeat("a", 100)), "", false}, // names a tenant only through a hash
		{"", "", false},
		{" acme", "", false},
		{strings.Repeat("k", MaxFairnessKeyLen+1), "", false}, // no key is that long
	} {
		tenant, ok := FairnessKeyTenant(tt.key)
		assert.Equal(t, tt.ok, ok, "%q", tt.key)
		assert.Equal(t, tt.tenant, tenant, "%q", tt.key)
	}
}

// FuzzFairnessKey: fairness keys are injective over valid tenants (up to a
// SHA-256 collision in 228 bits), and a key names its tenant exactly when
// the tenant is short enough to be its own key.
func FuzzFairnessKey(f *testing.F) {
	long := strings.Repeat("a", 100)
	f.Add(long, FairnessKey(long))
	f.Add("acme", "acme ")
	f.Add(strings.Repeat("b", 64), strings.Repeat("b", 65))
	f.Add("sha256:"+strings.Repeat("0", 57), "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, id := range []string{a, b} {
			if ValidateTenant(id) != nil {
				continue
			}
			key := FairnessKey(id)
			if len(key) == 0 || len(key) > MaxFairnessKeyLen {
				t.Fatalf("FairnessKey(%q) = %q", id, key)
			}
			got, ok := FairnessKeyTenant(key)
			if short := len(id) <= MaxFairnessKeyLen; ok != short || (ok && got != id) {
				t.Fatalf("FairnessKeyTenant(FairnessKey(%q)) = %q, %v", id, got, ok)
			}
		}
		if a != b && ValidateTenant(a) == nil && ValidateTenant(b) == nil && FairnessKey(a) == FairnessKey(b) {
			t.Fatalf("tenants %q and %q share the fairness key %q", a, b, FairnessKey(a))
		}
	})
}
