package ops

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/tqrouter/tqrouter/routing"
)

// DefaultMaxOverrides is the server's default limit on the fairness weight
// overrides of one task queue type (dynamic config
// matching.maxFairnessKeyWeightOverrides, server v1.32). The frontend also
// refuses a single update whose set and unset keys together pass it.
const DefaultMaxOverrides = 1000

// MaxWeightsLine is the longest line a weights file may have, in bytes.
const MaxWeightsLine = 4096

// ErrWeightsFile is returned, wrapped with the line and the reason, by
// [ParseWeights] for a weights file that cannot be used.
var ErrWeightsFile = errors.New("tqrouter: invalid weights file")

// ErrTooManyOverrides is returned, wrapped with the queues, by [PlanWeights]
// when a queue would hold more overrides than the limit; nothing has been
// written then.
var ErrTooManyOverrides = errors.New("tqrouter: too many fairness weight overrides")

// TaskQueueTypes are the task queue types a routed queue has: its workflow
// tasks and its activity tasks. Fairness weight overrides are kept per type.
var taskQueueTypes = [...]enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY}

// TypeName returns "workflow" or "activity" for a task queue type.
func TypeName(t enumspb.TaskQueueType) string {
	switch t {
	case enumspb.TASK_QUEUE_TYPE_WORKFLOW:
		return "workflow"
	case enumspb.TASK_QUEUE_TYPE_ACTIVITY:
		return "activity"
	case enumspb.TASK_QUEUE_TYPE_NEXUS:
		return "nexus"
	}
	return "unspecified"
}

// Weight is one line of a weights file: a tenant and its fairness weight.
type Weight struct {
	// Tenant is the tenant ID.
	Tenant string
	// Weight is the tenant's fairness weight, from [routing.MinWeight] to
	// [routing.MaxWeight].
	Weight float32
	// Line is the line of the file it was read from (1-based).
	Line int
}

// ParseWeights reads a weights file: one "TENANT WEIGHT" per line, the
// weight being the last field and the tenant everything before the spaces
// or tabs that separate it from the weight (a tenant ID may contain inner
// spaces); blank lines and lines whose first non-space character is '#'
// are ignored. The tenant is taken as it is written, as the router takes
// it: a line that starts with white space has a tenant with surrounding
// white space, which [routing.ValidateTenant] refuses, rather than being
// trimmed into another tenant. Weights go from [routing.MinWeight] to
// [routing.MaxWeight], the range the router sends. A tenant listed twice,
// an invalid tenant ID, a weight out of range or a line longer than
// [MaxWeightsLine] is an error wrapping [ErrWeightsFile] that names the
// line. The result is in file order.
func ParseWeights(r io.Reader) ([]Weight, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), MaxWeightsLine)
	var out []Weight
	seen := map[string]int{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRightFunc(sc.Text(), unicode.IsSpace)
		if t := strings.TrimLeftFunc(text, unicode.IsSpace); t == "" || t[0] == '#' {
			continue
		}
		// Only spaces and tabs separate: any other white space is part of
		// the tenant, for ValidateTenant to judge.
		cut := strings.LastIndexAny(text, " \t")
		tenant := strings.TrimRight(text[:max(cut, 0)], " \t")
		if cut < 0 || tenant == "" {
			return nil, fmt.Errorf("%w: line %d: want TENANT WEIGHT, got one field", ErrWeightsFile, line)
		}
		field := text[cut+1:]
		if err := routing.ValidateTenant(tenant); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrWeightsFile, line, err)
		}
		w, err := parseWeight(field)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrWeightsFile, line, err)
		}
		if first, dup := seen[tenant]; dup {
			return nil, fmt.Errorf("%w: line %d: tenant %q already on line %d", ErrWeightsFile, line, tenant, first)
		}
		seen[tenant] = line
		out = append(out, Weight{Tenant: tenant, Weight: w, Line: line})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: line %d: longer than %d bytes", ErrWeightsFile, line+1, MaxWeightsLine)
		}
		return nil, fmt.Errorf("%w: %v", ErrWeightsFile, err)
	}
	return out, nil
}

func parseWeight(s string) (float32, error) {
	f, err := strconv.ParseFloat(s, 32)
	if err != nil {
		return 0, fmt.Errorf("weight %q is not a number", s)
	}
	w := float32(f)
	if math.IsNaN(f) || w < routing.MinWeight || w > routing.MaxWeight {
		return 0, fmt.Errorf("weight %s outside %v to %v", s, routing.MinWeight, routing.MaxWeight)
	}
	return w, nil
}

// QueueWeights are the fairness weight overrides one routed queue should
// hold: fairness key → weight, the same for its workflow and activity
// tasks.
type QueueWeights struct {
	// Queue is the task queue name.
	Queue string
	// Overrides maps the fairness key the router sends for a tenant (see
	// [routing.FairnessKey]) to its weight.
	Overrides map[string]float32
}

// PlanWeights returns the overrides every routed queue of the tenant-scoped
// kinds should hold, in the order of [routing.Table.PollQueues]: each
// tenant's weight on every queue where its starts can land
// ([routing.Table.TenantQueues]), keyed by its fairness key. Queues where no
// listed tenant lands are included with no overrides, so that applying the
// plan removes what is left on them. Kinds that are not tenant-scoped carry
// no fairness key and are skipped. A queue with more than limit overrides
// is an error wrapping [ErrTooManyOverrides] naming every such queue and
// what would help; two weights for one fairness key (the same tenant twice)
// are an error wrapping [ErrWeightsFile], never one overwriting the other.
//
// Every listed tenant's weight goes on its overflow queue too, not only on
// the queues of tenants known to flood: the router decides at run time
// which tenants are hot, so any of them may land there, and a tenant
// without an override there would fall back to the weight its starts carry
// just when it competes with the other hot tenants. The cost is that each
// overflow queue holds the overrides of every tenant its hash picks, so
// more than limit tenants need more overflow queues (Config.Overflow), not
// more shards.
func PlanWeights(table *routing.Table, kinds []routing.QueueKind, weights []Weight, limit int) ([]QueueWeights, error) {
	var plan []QueueWeights
	index := map[string]int{}
	for _, k := range kinds {
		if !table.TenantScoped(k) {
			continue
		}
		queues, err := table.PollQueues(k)
		if err != nil {
			return nil, err
		}
		for _, q := range queues {
			if _, ok := index[q]; !ok {
				index[q] = len(plan)
				plan = append(plan, QueueWeights{Queue: q, Overrides: map[string]float32{}})
			}
		}
		owner := make(map[string]Weight, len(weights)) // fairness key → the line that set it
		for _, w := range weights {
			queues, err := table.TenantQueues(k, w.Tenant)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", w.Line, err)
			}
			key := routing.FairnessKey(w.Tenant)
			if first, dup := owner[key]; dup {
				return nil, fmt.Errorf("%w: line %d: tenant %q has the fairness key of line %d (%q); one would overwrite the other's weight",
					ErrWeightsFile, w.Line, w.Tenant, first.Line, first.Tenant)
			}
			owner[key] = w
			for _, q := range queues {
				plan[index[q]].Overrides[key] = w.Weight
			}
		}
	}
	if err := overLimit(table, kinds, weights, plan, limit); err != nil {
		return nil, err
	}
	return plan, nil
}

// overLimit returns the error of [PlanWeights] for a plan with a queue over
// limit, saying what would bring each such queue under it: more shards for
// a shard queue; more overflow queues for an overflow queue, which holds
// the overrides of every tenant whose hash picks it, so that shards do not
// help it (with the default single overflow queue, more than limit tenants
// always fail).
func overLimit(table *routing.Table, kinds []routing.QueueKind, weights []Weight, plan []QueueWeights, limit int) error {
	var over []string
	var shardOver, overflowOver bool
	prefix := table.Prefix()
	for _, qw := range plan {
		if len(qw.Overrides) <= limit {
			continue
		}
		over = append(over, fmt.Sprintf("%s (%d)", qw.Queue, len(qw.Overrides)))
		switch d, _ := routing.ParseTaskQueue(prefix, qw.Queue); d.Role {
		case routing.ShardQueue:
			shardOver = true
		case routing.OverflowQueue:
			overflowOver = true
		}
	}
	if len(over) == 0 {
		return nil
	}
	var fixes []string
	if overflowOver {
		fix := "more overflow queues (--overflow N, the same N as the router's Config.Overflow), since every listed tenant also lands on one overflow queue and more shards do not help"
		if n := overflowThatFits(table, kinds, weights, limit); n > 0 {
			fix = fmt.Sprintf("more overflow queues (--overflow %d fits these tenants; the router's Config.Overflow must be the same), since every listed tenant also lands on one overflow queue and more shards do not help", n)
		}
		fixes = append(fixes, fix)
	}
	if shardOver {
		fixes = append(fixes, "more shards (--shards)")
	}
	fixes = append(fixes, "fewer tenants in the file (only those whose weight is not the one their starts carry)",
		"or a higher limit (matching.maxFairnessKeyWeightOverrides on the server, then --max-overrides)")
	return fmt.Errorf("%w: more than %d on %s; nothing was written. What helps: %s",
		ErrTooManyOverrides, limit, strings.Join(over, ", "), strings.Join(fixes, "; "))
}

// overflowThatFits returns the smallest overflow count, above the table's,
// whose overflow queues each hold at most limit of the tenants' overrides,
// trying a few counts from the least that could fit; 0 if none of them
// does.
func overflowThatFits(table *routing.Table, kinds []routing.QueueKind, weights []Weight, limit int) int {
	cfg := table.Config()
	current := max(cfg.Overflow, routing.DefaultOverflow)
	least := max(current+1, (len(weights)+limit-1)/limit)
	for n := least; n < least+8 && n <= routing.MaxShards; n++ {
		cfg.Overflow = n
		t, err := routing.NewTable(cfg)
		if err != nil {
			return 0
		}
		if fits(t, kinds, weights, limit) {
			return n
		}
	}
	return 0
}

// fits reports whether no overflow queue of t gets more than limit of the
// tenants' overrides.
func fits(t *routing.Table, kinds []routing.QueueKind, weights []Weight, limit int) bool {
	for _, k := range kinds {
		if !t.TenantScoped(k) {
			continue
		}
		count := map[string]int{}
		for _, w := range weights {
			r, err := t.TenantRoute(k, w.Tenant, 0)
			if err != nil {
				return false
			}
			if r.Role != routing.PinnedQueue && r.Overflow != "" {
				if count[r.Overflow]++; count[r.Overflow] > limit {
					return false
				}
			}
		}
	}
	return true
}

// QueueConfig is what the server holds for one type of one task queue.
type QueueConfig struct {
	// Queue is the task queue name.
	Queue string
	// Type is the task queue type.
	Type enumspb.TaskQueueType
	// Overrides are the fairness weight overrides, fairness key → weight.
	Overrides map[string]float32
	// KeyRate is the per-fairness-key default rate limit in tasks per
	// second (scaled by each key's weight), or nil if none is set.
	KeyRate *float32
}

// ReadConfig asks the server for the task queue configuration of one type
// of queue (DescribeTaskQueue with report_config).
func ReadConfig(ctx context.Context, svc workflowservice.WorkflowServiceClient, namespace, queue string, typ enumspb.TaskQueueType) (QueueConfig, error) {
	resp, err := describe(ctx, svc, namespace, queue, typ, reportConfig)
	if err != nil {
		return QueueConfig{}, err
	}
	return configOf(queue, typ, resp.GetConfig()), nil
}

func configOf(queue string, typ enumspb.TaskQueueType, cfg *taskqueuepb.TaskQueueConfig) QueueConfig {
	qc := QueueConfig{Queue: queue, Type: typ, Overrides: maps.Clone(cfg.GetFairnessWeightOverrides())}
	if qc.Overrides == nil {
		qc.Overrides = map[string]float32{}
	}
	if rl := cfg.GetFairnessKeysRateLimitDefault().GetRateLimit(); rl != nil {
		r := rl.GetRequestsPerSecond()
		qc.KeyRate = &r
	}
	return qc
}

// ReadOverrides returns the configuration of both task queue types of every
// queue, in order: workflow, then activity, for each queue.
func ReadOverrides(ctx context.Context, svc workflowservice.WorkflowServiceClient, namespace string, queues []string) ([]QueueConfig, error) {
	out := make([]QueueConfig, 0, 2*len(queues))
	for _, q := range queues {
		for _, typ := range taskQueueTypes {
			qc, err := ReadConfig(ctx, svc, namespace, q, typ)
			if err != nil {
				return nil, err
			}
			out = append(out, qc)
		}
	}
	return out, nil
}

// KeyRate is the change [ApplyWeights] makes to the per-fairness-key
// default rate limit of activity queues (the server scales it by each
// key's weight, so a tenant of weight 2 gets twice the rate).
type KeyRate struct {
	// Set, if true, sets the rate to PerSecond, or removes it if Remove is
	// also true. If false, the rate limits are left as they are.
	Set bool
	// Remove removes the per-key rate limit.
	Remove bool
	// PerSecond is the rate limit of a key of weight 1, in tasks per
	// second.
	PerSecond float32
}

// Change is what [ApplyWeights] changed, or would change, on one type of
// one queue.
type Change struct {
	// Queue is the task queue name.
	Queue string
	// Type is the task queue type.
	Type enumspb.TaskQueueType
	// Set are the overrides added or changed, fairness key → weight.
	Set map[string]float32
	// Unset are the fairness keys whose overrides are removed, sorted.
	Unset []string
	// KeyRate is the new per-key rate limit, if it changes; Remove means
	// it is removed.
	KeyRate *KeyRate
}

// Empty reports whether the change changes nothing.
func (c Change) Empty() bool { return len(c.Set) == 0 && len(c.Unset) == 0 && c.KeyRate == nil }

// Diff returns the changes that turn the current configuration into the
// plan, one per queue and type that differs; rate applies to activity
// queues only (the server refuses a per-key rate limit on workflow tasks).
func Diff(plan []QueueWeights, current []QueueConfig, rate KeyRate) []Change {
	want := make(map[string]map[string]float32, len(plan))
	for _, qw := range plan {
		want[qw.Queue] = qw.Overrides
	}
	var out []Change
	for _, cur := range current {
		desired, ok := want[cur.Queue]
		if !ok {
			continue
		}
		c := Change{Queue: cur.Queue, Type: cur.Type, Set: map[string]float32{}}
		for k, w := range desired {
			if old, ok := cur.Overrides[k]; !ok || old != w {
				c.Set[k] = w
			}
		}
		for k := range cur.Overrides {
			if _, ok := desired[k]; !ok {
				c.Unset = append(c.Unset, k)
			}
		}
		slices.Sort(c.Unset)
		if rate.Set && cur.Type == enumspb.TASK_QUEUE_TYPE_ACTIVITY {
			switch {
			case rate.Remove && cur.KeyRate != nil:
				c.KeyRate = &KeyRate{Set: true, Remove: true}
			case !rate.Remove && (cur.KeyRate == nil || *cur.KeyRate != rate.PerSecond):
				c.KeyRate = &KeyRate{Set: true, PerSecond: rate.PerSecond}
			}
		}
		if !c.Empty() {
			out = append(out, c)
		}
	}
	return out
}

// Identity is the identity the command gives the server with its updates.
const Identity = "tqrouter weights apply"

// ApplyWeights writes changes with UpdateTaskQueueConfig. Per queue and
// type it first removes overrides, then sets them, in requests of at most
// limit keys each (the frontend refuses a request whose set and unset keys
// together pass the server's limit, and matching one that leaves a queue
// over it), so a queue never holds more overrides than the plan and the
// overrides it started with. A failed request stops it; what was written
// before stays, and running it again finishes the job.
func ApplyWeights(ctx context.Context, svc workflowservice.WorkflowServiceClient, namespace string, changes []Change, limit int) error {
	limit = max(1, limit)
	for _, c := range changes {
		base := func() *workflowservice.UpdateTaskQueueConfigRequest {
			return &workflowservice.UpdateTaskQueueConfigRequest{
				Namespace:     namespace,
				Identity:      Identity,
				TaskQueue:     c.Queue,
				TaskQueueType: c.Type,
			}
		}
		var reqs []*workflowservice.UpdateTaskQueueConfigRequest
		for chunk := range slices.Chunk(c.Unset, limit) {
			r := base()
			r.UnsetFairnessWeightOverrides = chunk
			reqs = append(reqs, r)
		}
		keys := slices.Sorted(maps.Keys(c.Set))
		for chunk := range slices.Chunk(keys, limit) {
			r := base()
			r.SetFairnessWeightOverrides = make(map[string]float32, len(chunk))
			for _, k := range chunk {
				r.SetFairnessWeightOverrides[k] = c.Set[k]
			}
			reqs = append(reqs, r)
		}
		if c.KeyRate != nil {
			r := base()
			r.UpdateFairnessKeyRateLimitDefault = &workflowservice.UpdateTaskQueueConfigRequest_RateLimitUpdate{Reason: Identity}
			if !c.KeyRate.Remove {
				r.UpdateFairnessKeyRateLimitDefault.RateLimit = &taskqueuepb.RateLimit{RequestsPerSecond: c.KeyRate.PerSecond}
			}
			reqs = append(reqs, r)
		}
		for _, r := range reqs {
			if _, err := svc.UpdateTaskQueueConfig(ctx, r); err != nil {
				return fmt.Errorf("tqrouter: updating %s queue %q: %w", TypeName(c.Type), c.Queue, err)
			}
		}
	}
	return nil
}
