package routing

import (
	"errors"
	"fmt"
	"strings"
)

// Limits on a [Config] and a [QueueKind].
const (
	// MaxShards is the largest shard count a [Config] accepts. Every shard
	// needs pollers, so real deployments stay far below it.
	MaxShards = 1024
	// MaxPrefixLen is the longest queue prefix, in bytes.
	MaxPrefixLen = 200
	// MaxKindLen is the longest [QueueKind], in bytes.
	MaxKindLen = 64
)

// DefaultOverflow is the number of overflow queues of each tenant-scoped
// kind when [Config.Overflow] is 0.
const DefaultOverflow = 1

// NoOverflow, as [Config.Overflow], gives the kinds no overflow queue: a
// tenant whose starts flood stays on its shard.
const NoOverflow = -1

// ErrInvalidConfig is returned, wrapped with the reason, by
// [Config.Validate], [NewTable] and [ValidateKind] for a configuration that
// cannot produce valid task queue names.
var ErrInvalidConfig = errors.New("tqrouter: invalid routing configuration")

// Config says how starts are spread over task queues. The zero Config is not
// valid: Prefix and Shards must be set.
type Config struct {
	// Prefix starts every routed queue name, as in "saas" in
	// "saas.tenant.07". It is one or more segments of ASCII letters,
	// digits, '-' and '_', separated by single dots.
	Prefix string
	// Shards is the number of queues per kind, from 1 to [MaxShards]. With
	// 1, every start of a kind goes to "{prefix}.{kind}.00": the safe first
	// rollout.
	Shards int
	// Overflow is the number of overflow queues of each tenant-scoped kind,
	// where the new starts of a tenant whose starts flood go (the router
	// decides which tenants; see the interceptor package). 0 means
	// [DefaultOverflow]; [NoOverflow] means none. At most [MaxShards].
	Overflow int
	// Pins gives tenants queues of their own, the isolation Temporal advises
	// for a problem tenant: tenant ID → label, and the tenant's starts of
	// every tenant-scoped kind go to "{prefix}.{kind}.pinned-{label}"
	// instead of its shard (and never to an overflow queue). A label is 1 to
	// [MaxKindLen] ASCII letters, digits, '-' or '_'; tenants may share one.
	// [NewTable] copies the map.
	Pins map[string]string
	// Unscoped declares the kinds that are not tenant-scoped besides
	// [Jobs], which always is not: their starts need no tenant, go to the
	// kind's one queue, shard 00, and carry no fairness key. Every kind not
	// declared here is tenant-scoped; [Tenant] cannot be declared here.
	// Ask [Table.TenantScoped], never compare kinds. [NewTable] copies the
	// slice.
	Unscoped []QueueKind
}

// overflow is the number of overflow queues of a tenant-scoped kind.
func (c Config) overflow() int {
	switch {
	case c.Overflow == 0:
		return DefaultOverflow
	case c.Overflow < 0:
		return 0
	}
	return c.Overflow
}

// Validate reports whether c can produce valid task queue names; the error
// wraps [ErrInvalidConfig].
func (c Config) Validate() error {
	if c.Shards < 1 || c.Shards > MaxShards {
		return fmt.Errorf("%w: shards must be from 1 to %d, got %d", ErrInvalidConfig, MaxShards, c.Shards)
	}
	if c.Prefix == "" {
		return fmt.Errorf("%w: empty prefix", ErrInvalidConfig)
	}
	if len(c.Prefix) > MaxPrefixLen {
		return fmt.Errorf("%w: prefix longer than %d bytes", ErrInvalidConfig, MaxPrefixLen)
	}
	for seg := range strings.SplitSeq(c.Prefix, ".") {
		if err := validateSegment(seg); err != nil {
			return fmt.Errorf("%w: prefix %q: %v", ErrInvalidConfig, c.Prefix, err)
		}
	}
	if c.Overflow < NoOverflow || c.Overflow > MaxShards {
		return fmt.Errorf("%w: overflow must be from %d to %d, got %d", ErrInvalidConfig, NoOverflow, MaxShards, c.Overflow)
	}
	for _, k := range c.Unscoped {
		if err := ValidateKind(k); err != nil {
			return fmt.Errorf("%w: unscoped kind: %v", ErrInvalidConfig, err)
		}
		if k == Tenant {
			return fmt.Errorf("%w: kind %q is tenant-scoped by declaration", ErrInvalidConfig, Tenant)
		}
	}
	for tenant, label := range c.Pins {
		if err := ValidateTenant(tenant); err != nil {
			return fmt.Errorf("%w: pinned tenant: %v", ErrInvalidConfig, err)
		}
		if err := validateLabel(label); err != nil {
			return fmt.Errorf("%w: pin label: %v", ErrInvalidConfig, err)
		}
	}
	return nil
}

func validateLabel(label string) error {
	if len(label) > MaxKindLen {
		return fmt.Errorf("label longer than %d bytes", MaxKindLen)
	}
	return validateSegment(label)
}

// ValidateKind reports whether k can be a segment of a queue name: 1 to
// [MaxKindLen] ASCII letters, digits, '-' or '_'. The error wraps
// [ErrInvalidConfig].
func ValidateKind(k QueueKind) error {
	if len(k) > MaxKindLen {
		return fmt.Errorf("%w: kind longer than %d bytes", ErrInvalidConfig, MaxKindLen)
	}
	if err := validateSegment(string(k)); err != nil {
		return fmt.Errorf("%w: kind %q: %v", ErrInvalidConfig, string(k), err)
	}
	return nil
}

func validateSegment(s string) error {
	if s == "" {
		return errors.New("empty segment")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return fmt.Errorf("illegal character %q", c)
		}
	}
	return nil
}
