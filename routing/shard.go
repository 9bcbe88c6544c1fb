package routing

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"slices"
	"unsafe"
)

// QueueKind names a family of task queues that are scaled together, such as
// the queues of tenant-scoped workflows or those of system jobs. Users may
// define their own kinds; a kind must be a valid queue name segment (see
// [ValidateKind]).
type QueueKind string

// The kinds of the product's default registry. Whether a kind is
// tenant-scoped is declared once, with the kind: these two here, a user's
// kinds in [Config.Unscoped]; [Table.TenantScoped] answers for all.
const (
	// Tenant is the kind of tenant-scoped workflows: they are sharded by
	// tenant and carry the tenant's fairness key. It is tenant-scoped in
	// every [Table].
	Tenant QueueKind = "tenant"
	// Jobs is the kind of system jobs: they always run on shard 00 and carry
	// no fairness key. It is not tenant-scoped in any [Table].
	Jobs QueueKind = "jobs"
)

// TenantScoped reports whether starts of kind k belong to a tenant in a
// [Table] whose [Config] declares no Unscoped kinds: every kind but [Jobs].
//
// Deprecated: Use [Table.TenantScoped], which also knows the kinds a
// Config declares in Unscoped.
func (k QueueKind) TenantScoped() bool { return !unscoped(k, nil) }

// unscoped is the declaration of which kinds are not tenant-scoped: [Jobs],
// and the kinds a Config declares in Unscoped (declared).
func unscoped(k QueueKind, declared []QueueKind) bool {
	return k == Jobs || slices.Contains(declared, k)
}

// StableShard returns the shard of key among shards shards: the first four
// bytes of the SHA-256 of key's UTF-8 bytes, read as a big-endian uint32,
// modulo max(1, shards). It is the reference algorithm shared with other
// services and must never change.
func StableShard(key string, shards int) int {
	if shards <= 1 {
		return 0
	}
	sum := sha256.Sum256(keyBytes(key))
	return pick(&sum, 0, shards)
}

// keyBytes is key's bytes, for [sha256.Sum256] to hash in place:
// []byte(key) would copy the key, and heap-allocate it past 32 bytes (a
// UUID tenant ID is 36); the hash only reads its input. Callers call
// sha256.Sum256(keyBytes(key)) themselves rather than through a helper
// that returns the sum: the sum is a 32-byte array, returned in memory,
// and each function it is returned through copies it once more.
func keyBytes(key string) []byte {
	return unsafe.Slice(unsafe.StringData(key), len(key))
}

// pick reads the big-endian uint32 at byte offset off of sum modulo n:
// offset 0 picks the shard, offset 4 the overflow queue, so that the tenants
// of one shard spread over the overflow queues.
func pick(sum *[sha256.Size]byte, off, n int) int {
	return int(uint64(binary.BigEndian.Uint32(sum[off:off+4])) % uint64(max(1, n)))
}

// divisor is [pick] for a fixed n, without a division: Lemire's "fastmod"
// (Lemire, Kaser, Kurz, "Faster remainder by direct computation", 2019),
// exact for every 32-bit numerator and every n from 1 to 2^32-1. A
// [Table] makes one per count of shards or overflow queues, so that a
// route costs two multiplications where it cost two divisions.
type divisor struct {
	n uint64 // the divisor
	m uint64 // ceil(2^64 / n), 0 for n = 1
}

func newDivisor(n int) divisor {
	n = max(1, n)
	return divisor{n: uint64(n), m: ^uint64(0)/uint64(n) + 1}
}

// pick is pick(sum, off, d.n).
func (d divisor) pick(sum *[sha256.Size]byte, off int) int {
	x := uint64(binary.BigEndian.Uint32(sum[off : off+4]))
	hi, _ := bits.Mul64(d.m*x, d.n)
	return int(hi)
}
