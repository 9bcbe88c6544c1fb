package routing

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
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

// StableShard returns the shard of key among shards shards: the first four
// bytes of the SHA-256 of key's UTF-8 bytes, read as a big-endian uint32,
// modulo max(1, shards). It is the reference algorithm shared with other
// services and must never change.
func StableShard(key string, shards int) int {
	if shards <= 1 {
		return 0
	}
	sum := digest(key)
	return shardOf(&sum, shards)
}

// digest is the SHA-256 of key's bytes. []byte(key) would copy the key,
// and heap-allocate it past 32 bytes (a UUID tenant ID is 36); the hash only
// reads its input, so it reads the string's bytes in place.
func digest(key string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(key), len(key)))
}

func shardOf(sum *[sha256.Size]byte, shards int) int {
	return int(uint64(binary.BigEndian.Uint32(sum[:4])) % uint64(max(1, shards)))
}

// TaskQueueName returns the name of a shard's task queue,
// "{prefix}.{kind}.{shard:02d}", for example "saas.tenant.07" or
// "saas.tenant.123". It does not validate its arguments; [Config.Validate]
// and [ValidateKind] do.
func TaskQueueName(prefix string, kind QueueKind, shard int) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(kind) + 6)
	b.WriteString(prefix)
	b.WriteByte('.')
	b.WriteString(string(kind))
	b.WriteByte('.')
	if shard >= 0 && shard < 10 {
		b.WriteByte('0')
	}
	b.WriteString(strconv.Itoa(shard))
	return b.String()
}

// ParseTaskQueue reports whether name is a shard queue of prefix, as made by
// [TaskQueueName], and if so returns its kind and shard. It accepts only the
// canonical form: at least two digits, no leading zero beyond that padding,
// and a kind that passes [ValidateKind].
func ParseTaskQueue(prefix, name string) (kind QueueKind, shard int, ok bool) {
	rest, found := strings.CutPrefix(name, prefix)
	if !found || prefix == "" || len(rest) < 1 || rest[0] != '.' {
		return "", 0, false
	}
	rest = rest[1:]
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 {
		return "", 0, false
	}
	k, digits := QueueKind(rest[:dot]), rest[dot+1:]
	if ValidateKind(k) != nil || len(digits) < 2 || len(digits) > 4 {
		return "", 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", 0, false
		}
	}
	if len(digits) > 2 && digits[0] == '0' {
		return "", 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n >= MaxShards {
		return "", 0, false
	}
	return k, n, true
}
