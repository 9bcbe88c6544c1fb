package routing

import (
	"crypto/sha256"
	"encoding/binary"
	"unsafe"
)

// QueueKind names a family of task queues that are scaled together, such as
// the queues of tenant-scoped workflows or those of system jobs. Users may
// define their own kinds; a kind must be a valid queue name segment (see
// [ValidateKind]).
type QueueKind string

// The kinds of the product's default registry.
const (
	// Tenant is the kind of tenant-scoped workflows: they are sharded by
	// tenant and carry the tenant's fairness key.
	Tenant QueueKind = "tenant"
	// Jobs is the kind of system jobs: they always run on shard 00 and carry
	// no fairness key.
	Jobs QueueKind = "jobs"
)

// TenantScoped reports whether starts of kind k belong to a tenant: they
// need a tenant ID, are sharded by it and carry its fairness key. Every
// kind is tenant-scoped except [Jobs].
func (k QueueKind) TenantScoped() bool { return k != Jobs }

// StableShard returns the shard of key among shards shards: the first four
// bytes of the SHA-256 of key's UTF-8 bytes, read as a big-endian uint32,
// modulo max(1, shards). It is the reference algorithm shared with other
// services and must never change.
func StableShard(key string, shards int) int {
	if shards <= 1 {
		return 0
	}
	sum := digest(key)
	return pick(&sum, 0, shards)
}

// digest is the SHA-256 of key's bytes. []byte(key) would copy the key,
// and heap-allocate it past 32 bytes (a UUID tenant ID is 36); the hash only
// reads its input, so it reads the string's bytes in place.
func digest(key string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(key), len(key)))
}

// pick reads the big-endian uint32 at byte offset off of sum modulo n:
// offset 0 picks the shard, offset 4 the overflow queue, so that the tenants
// of one shard spread over the overflow queues.
func pick(sum *[sha256.Size]byte, off, n int) int {
	return int(uint64(binary.BigEndian.Uint32(sum[off:off+4])) % uint64(max(1, n)))
}
