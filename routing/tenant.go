package routing

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/tqrouter/tqrouter/internal/names"
)

// Limits on tenant IDs and fairness.
const (
	// MaxTenantLen is the longest tenant ID accepted, in bytes.
	MaxTenantLen = 255
	// MaxFairnessKeyLen is the longest fairness key Temporal accepts, in
	// bytes; longer tenant IDs get a derived key (see [FairnessKey]).
	MaxFairnessKeyLen = 64
	// MinWeight and MaxWeight bound a fairness weight, as Temporal does.
	MinWeight float32 = 0.001
	MaxWeight float32 = 1000
)

// derivedKeyPrefix starts the fairness key of a tenant ID longer than
// MaxFairnessKeyLen.
const derivedKeyPrefix = "sha256:"

var (
	// ErrInvalidTenant is returned, wrapped with the reason, for a tenant
	// ID that is empty, white space only, has surrounding white space or
	// control characters, is not valid UTF-8, is longer than
	// [MaxTenantLen], or is spelled like a derived fairness key (see
	// [ValidateTenant]).
	ErrInvalidTenant = errors.New("tqrouter: invalid tenant ID")
	// ErrInvalidWeight is returned, wrapped with the value, for a fairness
	// weight that is NaN or negative.
	ErrInvalidWeight = errors.New("tqrouter: invalid fairness weight")
)

// ValidateTenant reports whether id can be routed; the error wraps
// [ErrInvalidTenant]. It is the one rule for tenant IDs: the router, the
// worker side and the operator command all ask it. Tenant IDs are opaque,
// but they are hashed byte for byte, so " acme" and "acme" would land on
// different shards: anything that is likely a mistake is refused rather
// than routed. An ID spelled like a derived fairness key ("sha256:" and 57
// lowercase hex digits, see [FairnessKey]) is refused too: it would be its
// own fairness key, and so share the key, the fairness and the weight
// overrides of the long tenant ID whose key it is. With it refused, no two
// valid tenants have the same fairness key.
func ValidateTenant(id string) error {
	if validTenant(id) {
		return nil
	}
	if err := names.Check(id, MaxTenantLen); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTenant, err)
	}
	return fmt.Errorf("%w: %q is spelled like the derived fairness key of a longer ID", ErrInvalidTenant, id)
}

// validTenant is [ValidateTenant] without the reason: one pass over the
// bytes for the printable-ASCII IDs nearly every tenant has, with nothing
// to allocate.
func validTenant(id string) bool {
	return names.Valid(id, MaxTenantLen) && (len(id) != MaxFairnessKeyLen || !isDerivedKey(id))
}

// isDerivedKey reports whether s has the form of a derived fairness key:
// "sha256:" followed by 57 lowercase hex digits, 64 bytes in all.
func isDerivedKey(s string) bool {
	if len(s) != MaxFairnessKeyLen || s[:len(derivedKeyPrefix)] != derivedKeyPrefix {
		return false
	}
	for i := len(derivedKeyPrefix); i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// FairnessKeyTenant returns the tenant whose fairness key is key, when the
// key names it: a valid tenant ID of at most [MaxFairnessKeyLen] bytes is
// its own key. A derived key (which names its tenant only through a hash),
// or anything that is no tenant's key, returns false. A worker that reads a
// fairness key back from a workflow's Priority asks this rather than
// parsing the key itself.
func FairnessKeyTenant(key string) (string, bool) {
	if len(key) > MaxFairnessKeyLen || !validTenant(key) {
		return "", false
	}
	return key, true
}

// FairnessKey returns the fairness key of a tenant: the tenant ID itself
// when it fits in [MaxFairnessKeyLen] bytes, and otherwise "sha256:"
// followed by the first 57 lowercase hex digits of the SHA-256 of the ID
// (64 bytes in all), which is stable across processes and languages. Over
// valid tenant IDs (see [ValidateTenant]) it is injective: two tenants
// never share a key (barring a collision of the first 228 bits of
// SHA-256).
func FairnessKey(tenant string) string {
	if len(tenant) <= MaxFairnessKeyLen {
		return tenant
	}
	sum := sha256.Sum256(keyBytes(tenant))
	return derivedFairnessKey(&sum)
}

// derivedFairnessKey is the fairness key of a long tenant ID whose SHA-256
// is sum; it allocates only the returned string.
func derivedFairnessKey(sum *[sha256.Size]byte) string {
	var buf [len(derivedKeyPrefix) + 2*sha256.Size]byte
	copy(buf[:], derivedKeyPrefix)
	hex.Encode(buf[len(derivedKeyPrefix):], sum[:])
	return string(buf[:MaxFairnessKeyLen])
}

// NormalizeWeight returns the fairness weight to send for w: 0 stays 0 (the
// server's default weight, 1), positive values are clamped to
// [[MinWeight], [MaxWeight]] (so +Inf becomes MaxWeight), and NaN or a
// negative value is an error wrapping [ErrInvalidWeight].
func NormalizeWeight(w float32) (float32, error) {
	switch {
	case w != w: // NaN
		return 0, fmt.Errorf("%w: NaN", ErrInvalidWeight)
	case w < 0:
		return 0, fmt.Errorf("%w: %v is negative", ErrInvalidWeight, w)
	case w == 0:
		return 0, nil
	case w < MinWeight:
		return MinWeight, nil
	case w > MaxWeight || math.IsInf(float64(w), 1):
		return MaxWeight, nil
	}
	return w, nil
}
