package routing

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tqrouter/tqrouter/internal/names"
)

// Route is where one start goes and the fairness it carries.
type Route struct {
	// Kind is the queue kind of the start's type.
	Kind QueueKind
	// Role says which of the kind's queues TaskQueue is.
	Role Role
	// Shard is the tenant's shard, wherever the start goes; always 0 for a
	// kind that is not tenant-scoped.
	Shard int
	// TaskQueue is the queue the start goes to.
	TaskQueue string
	// Overflow is the overflow queue the tenant's starts of this kind go
	// to while it is hot (see [Table.HotRoute]): computed with the route
	// from the same hash, so that a hot tenant's start costs no second one.
	// Empty for a pinned tenant, a kind that is not tenant-scoped, or
	// [NoOverflow].
	Overflow string
	// FairnessKey is the tenant's fairness key (see [FairnessKey]); empty
	// for a kind that is not tenant-scoped.
	FairnessKey string
	// FairnessWeight is the normalized weight (see [NormalizeWeight]); 0
	// leaves the server's default.
	FairnessWeight float32
}

// Table is a validated [Config] with its queue names precomputed, so that
// computing a route allocates nothing. Create it with [NewTable]; it is safe
// for concurrent use. Names of kinds other than [Tenant] and [Jobs] are
// computed on first use and kept.
type Table struct {
	cfg      Config
	tenant   *kindQueues                               // the built-in kinds, without a map lookup
	jobs     *kindQueues                               //
	names    atomic.Pointer[map[QueueKind]*kindQueues] // other kinds; copy on write
	mu       sync.Mutex                                // serializes writers of names
	labels   []string                                  // the pin labels, sorted, without repeats
	shards   divisor                                   // cfg.Shards
	overflow divisor                                   // cfg.overflow(), when it is not 0
}

// kindQueues are the queue names of one kind.
type kindQueues struct {
	scoped   bool              // the kind is tenant-scoped
	shards   []string          // by shard; only 00 for a kind that is not tenant-scoped
	overflow []string          // by number; none for a kind that is not tenant-scoped
	pinned   map[string]string // label → queue
}

// NewTable validates cfg and precomputes the queue names of [Tenant] and
// [Jobs]. An invalid cfg is an error wrapping [ErrInvalidConfig].
func NewTable(cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Pins = maps.Clone(cfg.Pins)
	cfg.Unscoped = slices.Clone(cfg.Unscoped)
	t := &Table{cfg: cfg, shards: newDivisor(cfg.Shards), overflow: newDivisor(cfg.overflow())}
	for _, label := range cfg.Pins {
		t.labels = append(t.labels, label)
	}
	slices.Sort(t.labels)
	t.labels = slices.Compact(t.labels)
	t.tenant, t.jobs = t.build(Tenant), t.build(Jobs)
	t.names.Store(&map[QueueKind]*kindQueues{})
	return t, nil
}

func (t *Table) build(kind QueueKind) *kindQueues {
	if !t.TenantScoped(kind) {
		return &kindQueues{shards: []string{TaskQueueName(t.cfg.Prefix, kind, 0)}}
	}
	q := &kindQueues{
		scoped:   true,
		shards:   make([]string, t.cfg.Shards),
		overflow: make([]string, t.cfg.overflow()),
		pinned:   make(map[string]string, len(t.labels)),
	}
	for i := range q.shards {
		q.shards[i] = TaskQueueName(t.cfg.Prefix, kind, i)
	}
	for i := range q.overflow {
		q.overflow[i] = OverflowQueueName(t.cfg.Prefix, kind, i)
	}
	for _, label := range t.labels {
		q.pinned[label] = PinnedQueueName(t.cfg.Prefix, kind, label)
	}
	return q
}

// Config returns the configuration of t. Its Pins and Unscoped are copies,
// made on every call; a caller on a hot path asks [Table.Prefix],
// [Table.Pinned] or [Table.TenantScoped] instead.
func (t *Table) Config() Config {
	cfg := t.cfg
	cfg.Pins = maps.Clone(cfg.Pins)
	cfg.Unscoped = slices.Clone(cfg.Unscoped)
	return cfg
}

// Prefix returns the queue prefix of t ([Config.Prefix]), without copying
// the configuration.
func (t *Table) Prefix() string { return t.cfg.Prefix }

// Pinned returns the pin label of tenant ([Config.Pins]) and whether it is
// pinned, without copying the pins.
func (t *Table) Pinned(tenant string) (label string, ok bool) {
	if len(t.cfg.Pins) == 0 {
		return "", false
	}
	label, ok = t.cfg.Pins[tenant]
	return label, ok
}

// TenantScoped reports whether the starts of kind belong to a tenant: they
// need a tenant ID, are sharded by it and carry its fairness key. Every kind
// is tenant-scoped except [Jobs] and the kinds [Config.Unscoped] declares.
// It is the one answer to that question: the interceptor, the workers and
// the operator tools ask it.
func (t *Table) TenantScoped(kind QueueKind) bool { return !unscoped(kind, t.cfg.Unscoped) }

// queues returns the shared, read-only queue names of kind.
func (t *Table) queues(kind QueueKind) (*kindQueues, error) {
	if kind == Tenant { // small enough to inline into a route
		return t.tenant, nil
	}
	return t.otherQueues(kind)
}

func (t *Table) otherQueues(kind QueueKind) (*kindQueues, error) {
	if kind == Jobs {
		return t.jobs, nil
	}
	if q, ok := (*t.names.Load())[kind]; ok {
		return q, nil
	}
	if err := ValidateKind(kind); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.names.Load()
	if q, ok := old[kind]; ok {
		return q, nil
	}
	next := make(map[QueueKind]*kindQueues, len(old)+1)
	maps.Copy(next, old)
	next[kind] = t.build(kind)
	t.names.Store(&next)
	return next[kind], nil
}

// PollQueues returns every queue of kind that the router may send a start
// to, so every queue that kind's workers must poll: for a tenant-scoped
// kind, its shard queues (all, or only the given shards, so that a large
// shard count can be split across deployments), then its overflow queues
// and its pinned queues, which every such deployment polls so that none is
// left unpolled; for any other kind, its one queue, shard 00. A shard
// outside the table (anything but 0 for a kind that is not tenant-scoped)
// is an error wrapping [ErrInvalidConfig].
func (t *Table) PollQueues(kind QueueKind, shards ...int) ([]string, error) {
	q, err := t.queues(kind)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(q.shards)+len(q.overflow)+len(q.pinned))
	if len(shards) == 0 {
		out = append(out, q.shards...)
	}
	for _, s := range shards {
		if s < 0 || s >= len(q.shards) {
			return nil, fmt.Errorf("%w: shard %d outside 0..%d of kind %q", ErrInvalidConfig, s, len(q.shards)-1, kind)
		}
		if !slices.Contains(out, q.shards[s]) {
			out = append(out, q.shards[s])
		}
	}
	out = append(out, q.overflow...)
	if q.scoped {
		for _, label := range t.labels {
			out = append(out, q.pinned[label])
		}
	}
	return out, nil
}

// TenantQueues returns every queue of kind where a start of tenant can
// land: its pinned queue if it is pinned, else its shard queue and its
// overflow queue. Operator tools write per-tenant server settings (fairness
// weight overrides) on these queues. An invalid tenant is an error wrapping
// [ErrInvalidTenant]; a kind that is not tenant-scoped has its one queue.
func (t *Table) TenantQueues(kind QueueKind, tenant string) ([]string, error) {
	home, err := t.TenantRoute(kind, tenant, 0)
	if err != nil || home.Role == PinnedQueue || !t.TenantScoped(kind) {
		return []string{home.TaskQueue}, err
	}
	hot, err := t.HotRoute(kind, tenant, 0)
	if err != nil || hot.TaskQueue == home.TaskQueue {
		return []string{home.TaskQueue}, err
	}
	return []string{home.TaskQueue, hot.TaskQueue}, nil
}

// TenantRoute returns the route of a start of tenant of the given kind: the
// tenant's pinned queue if it has one, else its shard queue, with its
// fairness key and the normalized weight. A kind that is not tenant-scoped
// gets its job route ([Table.JobRoute]). An invalid tenant ID or weight is
// an error wrapping [ErrInvalidTenant] or [ErrInvalidWeight]. It allocates
// nothing, except the derived fairness key of a tenant ID longer than
// [MaxFairnessKeyLen] bytes.
func (t *Table) TenantRoute(kind QueueKind, tenant string, weight float32) (r Route, err error) {
	// A wrapper small enough to inline: a Route is 11 words, too many for
	// registers, so returning one from a call goes through memory, and
	// that cost as much as the routing work beyond the hash (see
	// BENCHMARKS.md). Inlined, route fills the caller's own variable.
	err = t.route(&r, kind, tenant, weight)
	return r, err
}

// route is [Table.TenantRoute], filling *r, which must be zero; on error it
// leaves *r zero.
func (t *Table) route(r *Route, kind QueueKind, tenant string, weight float32) error {
	q, err := t.queues(kind)
	if err != nil {
		return err
	}
	if !q.scoped {
		r.Kind, r.Role, r.TaskQueue = kind, ShardQueue, q.shards[0]
		return nil
	}
	// A printable-ASCII name shorter than a derived fairness key is a valid
	// tenant ID (see [ValidateTenant]): that shape, nearly every tenant's,
	// costs one call that calls nothing; the rest ask the whole rule.
	if !names.PrintableName(tenant, MaxFairnessKeyLen-1) && !validTenant(tenant) {
		return ValidateTenant(tenant)
	}
	w := weight
	if !(w == 0 || w >= MinWeight && w <= MaxWeight) { // NaN too
		if w, err = NormalizeWeight(weight); err != nil {
			return err
		}
	}
	// One hash serves the shard, the overflow queue and, for a long ID,
	// the fairness key.
	sum := sha256.Sum256(keyBytes(tenant))
	r.Kind, r.Role, r.Shard, r.FairnessKey, r.FairnessWeight = kind, ShardQueue, t.shards.pick(&sum, 0), tenant, w
	if len(tenant) > MaxFairnessKeyLen {
		r.FairnessKey = derivedFairnessKey(&sum)
	}
	if label, pinned := t.Pinned(tenant); pinned {
		r.Role, r.TaskQueue = PinnedQueue, q.pinned[label]
		return nil
	}
	r.TaskQueue = q.shards[r.Shard]
	if len(q.overflow) > 0 {
		r.Overflow = q.overflow[t.overflow.pick(&sum, 4)]
	}
	return nil
}

// HotRoute is [Table.TenantRoute] for a tenant whose starts flood: its start
// goes to the kind's overflow queue picked by the tenant's hash (see the
// package documentation), so that its shard-mates are not queued behind it.
// A pinned tenant keeps its own queue, and with [NoOverflow] the tenant
// stays on its shard.
func (t *Table) HotRoute(kind QueueKind, tenant string, weight float32) (r Route, err error) {
	err = t.route(&r, kind, tenant, weight) // fills r in place, as TenantRoute does
	if r.Overflow != "" {
		r.Role, r.TaskQueue = OverflowQueue, r.Overflow
	}
	return r, err
}

// Hot returns r as it is for a tenant whose starts flood: on its overflow
// queue, when it has one; unchanged otherwise.
func (r Route) Hot() Route {
	if r.Overflow != "" {
		r.Role, r.TaskQueue = OverflowQueue, r.Overflow
	}
	return r
}

// JobRoute returns the route of a start of a kind that is not tenant-scoped:
// shard 00, no fairness key. Given a tenant-scoped kind it returns that
// kind's shard 00 too, for callers that route a start without a tenant
// there.
func (t *Table) JobRoute(kind QueueKind) (Route, error) {
	q, err := t.queues(kind)
	if err != nil {
		return Route{}, err
	}
	return Route{Kind: kind, Role: ShardQueue, TaskQueue: q.shards[0]}, nil
}

// IsRouted reports whether queue is a routed queue of t's prefix (a shard,
// overflow or pinned queue of any kind, see [ParseTaskQueue]), of this
// configuration or an earlier one: a start already on such a queue was
// routed before.
func (t *Table) IsRouted(queue string) bool {
	_, ok := ParseTaskQueue(t.cfg.Prefix, queue)
	return ok
}
