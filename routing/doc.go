// Package routing holds the pure routing rules of tqrouter: which shard a
// tenant belongs to, what the shard's task queue is called, and what fairness
// priority a start carries.
//
// Everything here is values in, values out: no I/O, no tracing, no Temporal
// client. The shard algorithm is shared with services written in other
// languages, so it is fixed and pinned by reference vectors:
//
//	shard = big-endian uint32(SHA-256(UTF-8 tenant ID)[0:4]) mod max(1, shards)
//	queue = {prefix}.{kind}.{shard:02d}
//
// A [Table] precomputes the queue names of a [Config] so that routing a start
// allocates nothing.
package routing
