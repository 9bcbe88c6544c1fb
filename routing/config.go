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

// ErrInvalidConfig is returned, wrapped with the reason, by
// [Config.Validate], [NewTable] and [ValidateKind] for a configuration that
// cannot produce valid task queue names.
var ErrInvalidConfig = errors.New("tqrouter: invalid routing configuration")

// Config says how starts are spread over task queues. The zero Config is not
// valid: Prefix and Shards must be set.
type Config struct {
	// Namespace is the Temporal namespace the queues live in; empty means
	// "default". Routing does not depend on it; workers and operator tools
	// use it.
	Namespace string
	// Prefix starts every routed queue name, as in "saas" in
	// "saas.tenant.07". It is one or more segments of ASCII letters,
	// digits, '-' and '_', separated by single dots.
	Prefix string
	// Shards is the number of queues per kind, from 1 to [MaxShards]. With
	// 1, every start of a kind goes to "{prefix}.{kind}.00": the safe first
	// rollout.
	Shards int
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
	if strings.TrimSpace(c.Namespace) != c.Namespace {
		return fmt.Errorf("%w: namespace %q has surrounding white space", ErrInvalidConfig, c.Namespace)
	}
	return nil
}

// NamespaceOrDefault returns c.Namespace, or "default" when it is empty.
func (c Config) NamespaceOrDefault() string {
	if c.Namespace == "" {
		return "default"
	}
	return c.Namespace
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
