// Package routing is tqrouter's model of where a start can go: every task
// queue the router may send a start to, the rule of which kinds are
// tenant-scoped, the parse of a routed queue name, and the one answer to
// "which queues must a kind's workers poll". The interceptor, the workers
// and the migration helpers ask this package; none of them builds or parses
// a queue name itself.
//
// Everything here is values in, values out: no I/O, no tracing, no Temporal
// client, no clock. The shard algorithm is shared with services written in
// other languages, so it is fixed and pinned by reference vectors:
//
//	shard    = big-endian uint32(SHA-256(UTF-8 tenant ID)[0:4]) mod max(1, shards)
//	overflow = big-endian uint32(SHA-256(UTF-8 tenant ID)[4:8]) mod overflow queues
//
// The queues of a kind, for prefix "saas" and kind "tenant":
//
//	saas.tenant.07            a shard queue ({prefix}.{kind}.{shard:02d})
//	saas.tenant.overflow-00   an overflow queue, for tenants whose starts flood
//	saas.tenant.pinned-acme   a pinned tenant's own queue ([Config.Pins])
//
// A kind that is not tenant-scoped ([Jobs], and the kinds a configuration
// declares in [Config.Unscoped]; ask [Table.TenantScoped]) has one queue,
// shard 00, and no fairness key.
//
// A [Table] is a validated [Config] with its queue names precomputed, so that
// routing a start allocates nothing.
package routing
