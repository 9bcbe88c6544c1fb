package routing

import (
	"strconv"
	"strings"
)

// Role says which of a kind's queues a task queue is.
type Role uint8

// The roles of a routed queue.
const (
	// ShardQueue is "{prefix}.{kind}.{shard:02d}": the queue of the
	// tenants of one shard, or the one queue of a kind that is not
	// tenant-scoped.
	ShardQueue Role = iota + 1
	// OverflowQueue is "{prefix}.{kind}.overflow-{n:02d}": where the new
	// starts of a tenant whose starts flood go, so that its shard-mates are
	// not queued behind it.
	OverflowQueue
	// PinnedQueue is "{prefix}.{kind}.pinned-{label}": the queue of a tenant
	// pinned with [Config.Pins].
	PinnedQueue
)

// String returns "shard", "overflow" or "pinned".
func (r Role) String() string {
	switch r {
	case ShardQueue:
		return "shard"
	case OverflowQueue:
		return "overflow"
	case PinnedQueue:
		return "pinned"
	}
	return "unknown"
}

// The segments that mark overflow and pinned queues.
const (
	overflowSegment = "overflow-"
	pinnedSegment   = "pinned-"
)

// Destination is a routed task queue, as [ParseTaskQueue] reads its name.
type Destination struct {
	// Kind is the queue kind.
	Kind QueueKind
	// Role says whether it is a shard, overflow or pinned queue.
	Role Role
	// Index is the shard (ShardQueue) or the overflow queue's number
	// (OverflowQueue); 0 for a pinned queue.
	Index int
	// Label is the pin label of a PinnedQueue; empty otherwise.
	Label string
}

// TaskQueueName returns the name of a shard's task queue,
// "{prefix}.{kind}.{shard:02d}", for example "saas.tenant.07" or
// "saas.tenant.123". It does not validate its arguments; [Config.Validate]
// and [ValidateKind] do.
func TaskQueueName(prefix string, kind QueueKind, shard int) string {
	return queueName(prefix, kind, "", shard)
}

// OverflowQueueName returns the name of a kind's overflow queue n,
// "{prefix}.{kind}.overflow-{n:02d}". It does not validate its arguments.
func OverflowQueueName(prefix string, kind QueueKind, n int) string {
	return queueName(prefix, kind, overflowSegment, n)
}

// PinnedQueueName returns the name of a pinned tenant's queue of kind,
// "{prefix}.{kind}.pinned-{label}". It does not validate its arguments.
func PinnedQueueName(prefix string, kind QueueKind, label string) string {
	return prefix + "." + string(kind) + "." + pinnedSegment + label
}

func queueName(prefix string, kind QueueKind, segment string, n int) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(kind) + len(segment) + 6)
	b.WriteString(prefix)
	b.WriteByte('.')
	b.WriteString(string(kind))
	b.WriteByte('.')
	b.WriteString(segment)
	if n >= 0 && n < 10 {
		b.WriteByte('0')
	}
	b.WriteString(strconv.Itoa(n))
	return b.String()
}

// ParseTaskQueue reports whether name is a routed queue of prefix (a shard,
// overflow or pinned queue of any kind, as made by [TaskQueueName],
// [OverflowQueueName] or [PinnedQueueName]) and if so what it is. It
// accepts only canonical names: numbers of at least two digits with no
// leading zero beyond that padding, below [MaxShards], and a kind and label
// that pass [ValidateKind]. It does not depend on a shard count or on the
// pins of a configuration, so a queue of an earlier configuration still
// parses: a start already on it was routed before.
func ParseTaskQueue(prefix, name string) (Destination, bool) {
	rest, found := strings.CutPrefix(name, prefix)
	if !found || prefix == "" || len(rest) < 1 || rest[0] != '.' {
		return Destination{}, false
	}
	rest = rest[1:]
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 {
		return Destination{}, false
	}
	d := Destination{Kind: QueueKind(rest[:dot]), Role: ShardQueue}
	if ValidateKind(d.Kind) != nil {
		return Destination{}, false
	}
	last := rest[dot+1:]
	if label, ok := strings.CutPrefix(last, pinnedSegment); ok {
		if ValidateKind(QueueKind(label)) != nil {
			return Destination{}, false
		}
		d.Role, d.Label = PinnedQueue, label
		return d, true
	}
	if digits, ok := strings.CutPrefix(last, overflowSegment); ok {
		d.Role, last = OverflowQueue, digits
	}
	n, ok := parseIndex(last)
	if !ok {
		return Destination{}, false
	}
	d.Index = n
	return d, true
}

// SplitTaskQueue reads a routed queue's name without knowing its prefix,
// for a process that sees only queue names, as a worker budget does: the
// last two segments are the kind and the shard, overflow or pinned
// segment, and what comes before them is the prefix. It accepts exactly
// the names [ParseTaskQueue] accepts for that prefix.
func SplitTaskQueue(name string) (prefix string, d Destination, ok bool) {
	last := strings.LastIndexByte(name, '.')
	if last < 0 {
		return "", Destination{}, false
	}
	kindDot := strings.LastIndexByte(name[:last], '.')
	if kindDot < 0 {
		return "", Destination{}, false
	}
	prefix = name[:kindDot]
	if d, ok = ParseTaskQueue(prefix, name); !ok {
		return "", Destination{}, false
	}
	return prefix, d, true
}

// parseIndex reads a canonical queue number: 2 to 4 digits, zero-padded to
// two and no further, below MaxShards.
func parseIndex(digits string) (int, bool) {
	if len(digits) < 2 || len(digits) > 4 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	if len(digits) > 2 && digits[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n >= MaxShards {
		return 0, false
	}
	return n, true
}
