package routing

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"unicode"
	"unicode/utf8"
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
	// control characters, is not valid UTF-8, or is longer than
	// [MaxTenantLen].
	ErrInvalidTenant = errors.New("tqrouter: invalid tenant ID")
	// ErrInvalidWeight is returned, wrapped with the value, for a fairness
	// weight that is NaN or negative.
	ErrInvalidWeight = errors.New("tqrouter: invalid fairness weight")
)

// ValidateTenant reports whether id can be routed; the error wraps
// [ErrInvalidTenant]. Tenant IDs are opaque, but they are hashed byte for
// byte, so " acme" and "acme" would land on different shards: anything that
// is likely a mistake is refused rather than routed.
func ValidateTenant(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidTenant)
	case len(id) > MaxTenantLen:
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidTenant, len(id), MaxTenantLen)
	}
	// Fast path: printable ASCII, the shape of nearly every real tenant ID.
	ascii := true
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c >= 0x7f {
			ascii = false
			break
		}
	}
	if ascii {
		if id[0] == ' ' || id[len(id)-1] == ' ' {
			return fmt.Errorf("%w: surrounding white space in %q", ErrInvalidTenant, id)
		}
		return nil
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidTenant)
	}
	first, _ := utf8.DecodeRuneInString(id)
	last, _ := utf8.DecodeLastRuneInString(id)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return fmt.Errorf("%w: surrounding white space in %q", ErrInvalidTenant, id)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character %U", ErrInvalidTenant, r)
		}
	}
	return nil
}

// FairnessKey returns the fairness key of a tenant: the tenant ID itself
// when it fits in [MaxFairnessKeyLen] bytes, and otherwise "sha256:"
// followed by the first 57 hex digits of the SHA-256 of the ID (64 bytes in
// all), which is stable across processes and languages.
func FairnessKey(tenant string) string {
	if len(tenant) <= MaxFairnessKeyLen {
		return tenant
	}
	sum := digest(tenant)
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
