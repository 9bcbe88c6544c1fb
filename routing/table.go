package routing

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Route is where one workflow start goes and the fairness it carries.
type Route struct {
	// Kind is the queue kind of the workflow type.
	Kind QueueKind
	// Shard is the shard number; always 0 for a job route.
	Shard int
	// TaskQueue is the shard's task queue, "{prefix}.{kind}.{shard:02d}".
	TaskQueue string
	// FairnessKey is the tenant's fairness key (see [FairnessKey]); empty
	// for a job route.
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
	cfg         Config
	tenant, job []string                               // the built-in kinds, without a map lookup
	names       atomic.Pointer[map[QueueKind][]string] // copy on write
	mu          sync.Mutex                             // serializes writers of names
}

// NewTable validates cfg and precomputes the queue names of [Tenant] and
// [Jobs]. An invalid cfg is an error wrapping [ErrInvalidConfig].
func NewTable(cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Table{cfg: cfg}
	t.tenant, t.job = t.build(Tenant), t.build(Jobs)
	t.names.Store(&map[QueueKind][]string{})
	return t, nil
}

func (t *Table) build(kind QueueKind) []string {
	names := make([]string, t.cfg.Shards)
	for i := range names {
		names[i] = TaskQueueName(t.cfg.Prefix, kind, i)
	}
	return names
}

// Config returns the configuration of t.
func (t *Table) Config() Config { return t.cfg }

// queues returns the shared, read-only queue names of kind.
func (t *Table) queues(kind QueueKind) ([]string, error) {
	switch kind {
	case Tenant:
		return t.tenant, nil
	case Jobs:
		return t.job, nil
	}
	if names, ok := (*t.names.Load())[kind]; ok {
		return names, nil
	}
	if err := ValidateKind(kind); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.names.Load()
	if names, ok := old[kind]; ok {
		return names, nil
	}
	next := make(map[QueueKind][]string, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[kind] = t.build(kind)
	t.names.Store(&next)
	return next[kind], nil
}

// Queues returns the task queue names of every shard of kind, in shard
// order: the queues that workers of that kind poll.
func (t *Table) Queues(kind QueueKind) ([]string, error) {
	names, err := t.queues(kind)
	return slices.Clone(names), err
}

// TenantRoute returns the route of a tenant-scoped start of the given kind:
// the tenant's shard queue, its fairness key and the normalized weight. An
// invalid tenant ID or weight is an error wrapping [ErrInvalidTenant] or
// [ErrInvalidWeight]. It allocates nothing, except the derived fairness key
// of a tenant ID longer than [MaxFairnessKeyLen] bytes.
func (t *Table) TenantRoute(kind QueueKind, tenant string, weight float32) (Route, error) {
	if err := ValidateTenant(tenant); err != nil {
		return Route{}, err
	}
	w, err := NormalizeWeight(weight)
	if err != nil {
		return Route{}, err
	}
	names, err := t.queues(kind)
	if err != nil {
		return Route{}, err
	}
	// One hash serves both the shard and, for a long ID, the fairness key.
	sum := digest(tenant)
	shard := shardOf(&sum, t.cfg.Shards)
	key := tenant
	if len(tenant) > MaxFairnessKeyLen {
		key = derivedFairnessKey(&sum)
	}
	return Route{
		Kind:           kind,
		Shard:          shard,
		TaskQueue:      names[shard],
		FairnessKey:    key,
		FairnessWeight: w,
	}, nil
}

// JobRoute returns the route of a system job of the given kind: always
// shard 00, no fairness key.
func (t *Table) JobRoute(kind QueueKind) (Route, error) {
	names, err := t.queues(kind)
	if err != nil {
		return Route{}, err
	}
	return Route{Kind: kind, TaskQueue: names[0]}, nil
}

// IsRouted reports whether queue is a shard queue of t's prefix, of any kind
// and any shard count: a start already on such a queue was routed before.
func (t *Table) IsRouted(queue string) bool {
	_, _, ok := ParseTaskQueue(t.cfg.Prefix, queue)
	return ok
}
