package interceptor

import (
	"fmt"
	"math"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/tqrouter/tqrouter/internal/heapx"
	"github.com/tqrouter/tqrouter/routing"
)

// Defaults of [HotTenants].
const (
	DefaultHotWindow     = 5 * time.Second
	DefaultHotEnter      = 5
	DefaultHotShare      = 0.5
	DefaultHotMaxTenants = 10000
	DefaultHotSuspect    = 3
	DefaultHotBacklog    = 5
	DefaultHotRefresh    = time.Second
)

// HotTenants says when the router isolates a tenant whose starts flood. The
// router counts each tenant's starts of each kind, every start counting 1
// when it is made and decaying by a factor e every Window (so a burst of n
// starts counts n, and a steady rate of r starts a second counts about r
// times Window). A tenant becomes hot when its count reaches Enter (within
// half a start, so that a burst of Enter starts made over some
// milliseconds counts as Enter) and is at least Share of the count of the
// starts sent to its shard queue (its own included, but not the starts of
// hot tenants sent to an overflow queue, so that a second flood of an
// isolated flood's shard is seen as one), and it stays hot until its count falls below Exit or below Share/2 of its shard's:
// the gap is the hysteresis that keeps a tenant from flapping. With the
// defaults a tenant is hot after a burst of 5 starts, or at a steady rate
// of about one start a second, if it makes at least half of its shard's
// starts. A flood's first Enter-1 starts still go to the shard (its
// Enter-th is the first that overflows), so a small Enter keeps that head
// short; Window sets the steady rate that counts as a flood. The new
// starts of a hot tenant go to an overflow queue of their kind (see
// [routing.Table.HotRoute]), so its shard-mates are not queued behind its
// flood; starts already queued stay where they are. A tenant that is hot
// loses no capacity: the overflow queues are polled by the same workers,
// and a shared [github.com/tqrouter/tqrouter/workers.Budget] gives them
// every slot the kind's other queues leave; tenants on them are ordered by
// fairness.
//
// The counts live in each process that runs the router. On its own, each
// client process decides from the starts it sees: in a fleet of N processes that each see 1/N of a
// flood, N x (Enter-1) of its starts reach the shard before every process
// has isolated it. Given a way to ask the server ([Router.AttachClient] or
// [WithBacklogFunc]), a process also isolates a tenant whose starts come
// through it in a burst (Suspect of them, the third by default) when the
// server says the tenant's shard queue is backlogged (Backlog tasks
// waiting): the server sees the whole fleet's starts. See docs/fleet.md. When the server cannot answer, the
// process counts alone, as without it. Processes may disagree for a while
// about a tenant near the threshold; a tenant's starts then go to both its
// shard and its overflow queue, both polled, and nothing is lost.
//
// Only starts that create a workflow are counted: a SignalWithStart, and a
// start with WorkflowIDConflictPolicy USE_EXISTING, may reach a running
// workflow instead, and the SDK does not tell the interceptor which
// happened; they go to the overflow queue when their tenant is hot, but
// never make it hot. Counting stops for a tenant with [routing.NoOverflow]
// or a pinned queue: there is nowhere to isolate it. Children and
// continue-as-new started by workflow code never consult the counts: they
// depend on history only, so replays make the same decision.
//
// A worker process counts too: each activity that a workflow of a tenant
// schedules on its own shard queue (not on replay) counts as one of the
// tenant's starts on that shard, in the same counts, and while the tenant
// is hot the activity goes to the tenant's overflow queue instead. The
// workers of a shard see every workflow of it, whichever client process
// started it, so a flood spread over many client processes is isolated
// from its shard-mates at its activities even when no client process sees
// enough of it. See docs/hot-tenants.md.
type HotTenants struct {
	// Window is the time constant of the counts; default
	// [DefaultHotWindow].
	Window time.Duration
	// Enter is the count at which a tenant becomes hot; default
	// [DefaultHotEnter].
	Enter float64
	// Exit is the count below which a hot tenant cools down; default
	// Enter/4. It must be below Enter. A tenant isolated on the server's
	// word (see Suspect) cools down below the lesser of Exit and
	// Suspect/4, as its count here may never have come near Enter.
	Exit float64
	// Share is the least share of its shard's count a tenant must have to
	// become hot, from 0 to 1; default [DefaultHotShare]. A tenant that is
	// one of many busy tenants of a busy shard is not a flood.
	Share float64
	// MaxTenants bounds how many tenants are counted at once (default
	// [DefaultHotMaxTenants]); tenants that have made no start for a few
	// windows are forgotten, and a new tenant past the bound takes the
	// place of the one with the least count, so that a flood is counted
	// however many tenants start once.
	MaxTenants int
	// Suspect is the number of starts a tenant makes in a burst through
	// this process (its count with a time constant of Window/10, about
	// Suspect starts in Window/50) at which it is isolated if it makes at
	// least Share of its shard's starts and the server says its shard is
	// backlogged; the process asks the server at the start before. Default
	// [DefaultHotSuspect], at most Enter.
	//
	// From that start before (Suspect-1 in a burst, the second by
	// default) until it is isolated, a tenant that makes at least Share of
	// its shard's starts here is a suspect, and its starts yield: they go
	// to its shard one priority key below the caller's (Temporal's
	// default 3 becomes 4; 5, the lowest, stays), reason suspect_tenant.
	// The server dispatches a queue's tasks of a higher priority first,
	// its partitions' forwarded tasks included, so a flood's first starts,
	// made through many processes before any can tell, wait behind its
	// shard-mates' and not ahead of them. The workflow's tasks, its
	// activities' and its children's inherit its priority (unless they set
	// their own): a suspect that is no flood (at most 1% of ordinary
	// tenants' starts, docs/fleet.md) waits only while its shard has tasks
	// of a higher priority waiting, and loses nothing while its shard
	// keeps up. KeepPriority turns yielding off. Without a way to ask the
	// server, yielding is all a suspect does.
	Suspect float64
	// KeepPriority: a suspect's starts keep the caller's priority key
	// (see Suspect), for deployments whose priority keys must mean only
	// what their callers set.
	KeepPriority bool
	// Backlog is the number of workflow tasks waiting in a shard queue, as
	// the server reports it, at which the shard counts as flooded; default
	// [DefaultHotBacklog]. See docs/fleet.md for what the server reports.
	Backlog int64
	// Refresh is how long the server's answer about a flooded shard is
	// used before it is asked again; default [DefaultHotRefresh].
	Refresh time.Duration

	disabled bool
}

func (h HotTenants) withDefaults() HotTenants {
	if h.Window == 0 {
		h.Window = DefaultHotWindow
	}
	if h.Enter == 0 {
		h.Enter = DefaultHotEnter
	}
	if h.Exit == 0 {
		h.Exit = h.Enter / 4
	}
	if h.Share == 0 {
		h.Share = DefaultHotShare
	}
	if h.MaxTenants == 0 {
		h.MaxTenants = DefaultHotMaxTenants
	}
	if h.Suspect == 0 {
		h.Suspect = min(DefaultHotSuspect, h.Enter)
	}
	if h.Backlog == 0 {
		h.Backlog = DefaultHotBacklog
	}
	if h.Refresh == 0 {
		h.Refresh = DefaultHotRefresh
	}
	return h
}

func (h HotTenants) validate() error {
	if h.disabled {
		return nil
	}
	d := h.withDefaults()
	switch {
	case d.Window < 0:
		return fmt.Errorf("%w: hot tenants: negative window", routing.ErrInvalidConfig)
	case !(d.Enter >= 1) || math.IsInf(d.Enter, 0):
		return fmt.Errorf("%w: hot tenants: enter must be a count of at least 1", routing.ErrInvalidConfig)
	case !(d.Exit > 0 && d.Exit < d.Enter):
		return fmt.Errorf("%w: hot tenants: exit must be above 0 and below enter", routing.ErrInvalidConfig)
	case !(d.Share >= 0 && d.Share <= 1):
		return fmt.Errorf("%w: hot tenants: share must be from 0 to 1", routing.ErrInvalidConfig)
	case d.MaxTenants < 0:
		return fmt.Errorf("%w: hot tenants: negative max tenants", routing.ErrInvalidConfig)
	case !(d.Suspect >= 1 && d.Suspect <= d.Enter):
		return fmt.Errorf("%w: hot tenants: suspect must be a count from 1 to enter", routing.ErrInvalidConfig)
	case d.Backlog < 0:
		return fmt.Errorf("%w: hot tenants: negative backlog", routing.ErrInvalidConfig)
	case d.Refresh < 0:
		return fmt.Errorf("%w: hot tenants: negative refresh", routing.ErrInvalidConfig)
	}
	return nil
}

// burstSlack is how far below Enter a count may be and still make its
// tenant hot: the starts of a burst are made milliseconds apart, and a
// burst of Enter starts decays to a count a little under Enter before its
// last start is counted.
const burstSlack = 0.5

// burstRatio is Window over the time constant of a tenant's burst count:
// a flood's starts through one process are milliseconds apart, and an
// ordinary tenant's, seconds apart, rarely bunch.
const burstRatio = 10

// forgetBelow is the decayed count under which an idle tenant or shard is
// forgotten.
const forgetBelow = 0.01

// detector keeps the decayed start counts of tenants and shards, and the
// server's view of the shards' backlogs (see fleet.go).
type detector struct {
	cfg   HotTenants
	now   func() time.Time
	epoch time.Time // origin of the tallies' scores

	mu        sync.Mutex          // protects the fields below and the tallies and shards they hold
	tenants   map[hotKey]*tally   // the counted tenants
	least     heapx.Heap[*tally]  // the same tallies, least count first: evicted and forgotten first
	hotOnes   map[*tally]struct{} // the tallies that are hot now
	shards    map[shardKey]*shard
	lastSweep time.Time // when cooled and idle tenants were last swept

	fleet fleet
}

type hotKey struct {
	kind   routing.QueueKind
	tenant string
}

type shardKey struct {
	kind  routing.QueueKind
	shard int
}

// count is a decayed count of starts.
type count struct {
	v  float64
	at time.Time
}

// valueAt returns the count's value at now.
func (c *count) valueAt(now time.Time, window time.Duration) float64 {
	if dt := now.Sub(c.at); dt > 0 {
		return c.v * math.Exp(-float64(dt)/float64(window))
	}
	return c.v
}

// add counts one start at now and returns the count before and after it.
func (c *count) add(now time.Time, window time.Duration) (before, after float64) {
	before = c.valueAt(now, window)
	c.v, c.at = before+1, now
	return before, c.v
}

// tally is one tenant's count of one kind.
type tally struct {
	count
	burst count // the same starts, with a time constant of Window/burstRatio
	key   hotKey
	hot   bool
	// confirmed: hot on the server's word, below Enter.
	confirmed bool
	// score orders tallies by their value at any common instant: every
	// count decays by the same factor, so ln(v) + at/Window (at measured
	// from the detector's epoch) changes only when the count is added to.
	score float64
	index int // in detector.least; -1 when not there
}

// shard is one shard queue's count of the starts that went to it, and the
// server's view of its backlog.
type shard struct {
	landed count // starts sent to the shard queue, overflowed ones not included
	all    count // starts of the shard's tenants, overflowed ones included
	view   view
}

// change is a tenant's change of state at one start.
type change int

const (
	unchanged change = iota
	becameHot
	cooledDown
)

// cooled is a tenant that cooled down during a sweep.
type cooled struct {
	kind   routing.QueueKind
	tenant string
}

// sighting is one start the detector is told of: a start of tenant whose
// home is shard (the queue named queue) of kind. A start that is not
// counted (one that may not create a workflow) reads the tenant's state
// and changes nothing.
type sighting struct {
	kind    routing.QueueKind
	shard   int
	queue   string
	tenant  string
	counted bool
}

// judgement is what the detector says of one start.
type judgement struct {
	hot    bool     // the start goes to the overflow queue
	change change   // the tenant became hot, or cooled down, at this start
	swept  []cooled // other tenants found cooled down at this start
	// confirmed is set when the tenant became hot on the server's word
	// that its shard is backlogged, below Enter.
	confirmed bool
	// suspect: the start is one of a burst that dominates its shard's
	// starts here (see HotTenants.Suspect), and is not isolated.
	suspect bool
}

func newDetector(cfg HotTenants, now func() time.Time, source BacklogFunc) *detector {
	if now == nil {
		now = time.Now
	}
	d := &detector{
		cfg:     cfg.withDefaults(),
		now:     now,
		tenants: map[hotKey]*tally{},
		least:   heapx.New(func(a, b *tally) bool { return a.score < b.score }, func(tc *tally) *int { return &tc.index }),
		hotOnes: map[*tally]struct{}{},
		shards:  map[shardKey]*shard{},
	}
	d.epoch = now()
	d.fleet.init(d.cfg)
	if source != nil {
		d.fleet.source.Store(&source)
	}
	return d
}

// observe judges one start of a tenant whose home shard has an overflow
// queue: whether it goes there, and how the tenant's state changed.
//
// A tenant becomes hot when its count with this start reaches Enter and
// it makes at least Share of the starts sent to its shard, this one
// included: starts that went to the overflow queue are not in the shard's
// count, for they do not wait there, and a second tenant that floods the
// same shard must still be seen as a flood. A tenant also becomes hot when
// its burst count reaches Suspect and it makes at least Share of all the
// starts of its shard's tenants, overflowed ones included, and the server
// says the shard is backlogged (see fleet.go): its shard-mates, whose
// starts are few beside a flood's, are not suspected while the flood's
// backlog drains. The server is asked when the burst count reaches
// Suspect-1, so that its answer is there for the next start; from then
// until it is hot the tenant is a suspect.
func (d *detector) observe(s sighting) judgement {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var j judgement
	tk := hotKey{s.kind, s.tenant}
	if now.Sub(d.lastSweep) >= d.cfg.Window/10 {
		j.swept = d.sweep(now, tk) // first, to make room; this tenant is judged below
	}
	sk := shardKey{s.kind, s.shard}
	sh := d.shards[sk]
	if sh == nil {
		if !s.counted {
			return j // nothing is known of this shard, or of its tenants
		}
		sh = &shard{}
		d.shards[sk] = sh
	}
	tc := d.tenants[tk]
	if !s.counted {
		j.hot = tc != nil && tc.hot
		return j
	}
	if tc == nil {
		if tc = d.admit(tk); tc == nil {
			sh.landed.add(now, d.cfg.Window)
			return j
		}
	}
	// A tenant enters on its count with this start, and leaves on its
	// count before it, as the sweep judges an idle tenant.
	before, v := tc.add(now, d.cfg.Window)
	_, burst := tc.burst.add(now, d.cfg.Window/burstRatio)
	d.rescore(tc)
	landedBefore := sh.landed.valueAt(now, d.cfg.Window)
	_, all := sh.all.add(now, d.cfg.Window)
	switch {
	case !tc.hot && v+burstSlack >= d.cfg.Enter && v >= d.cfg.Share*(landedBefore+1):
		d.heat(tc)
		j.change = becameHot
	case !tc.hot && burst+burstSlack >= max(1, d.cfg.Suspect-1) && v >= d.cfg.Share*all:
		// A suspect: the server's view of its shard decides, at the next
		// start of its burst; the view is asked for now.
		if burst+burstSlack >= d.cfg.Suspect && d.fleet.flooded(sh, now) {
			d.heat(tc)
			tc.confirmed = true
			j.change, j.confirmed = becameHot, true
		} else {
			j.suspect = true
			if !d.fleet.flooded(sh, now) {
				d.fleet.maybeAsk(d, sh, s.queue, now)
			}
		}
	case tc.hot && (before < d.exit(tc) || before < d.cfg.Share/2*landedBefore):
		tc.hot = false
		delete(d.hotOnes, tc)
		j.change = cooledDown
	}
	j.hot = tc.hot
	if !j.hot {
		sh.landed.add(now, d.cfg.Window)
	}
	return j
}

// admit starts counting tenant k, evicting the tenant with the least
// count if the table is full. Every count decays at the same rate, so the
// one evicted is the one that started least lately: a tenant whose starts
// flood outgrows any number of tenants that start once, and is never
// evicted for them. A hot tenant is never evicted: while the least count
// is a hot tenant's (rare: every other tenant counts more), the new one is
// not counted and admit returns nil.
func (d *detector) admit(k hotKey) *tally {
	if len(d.tenants) >= d.cfg.MaxTenants {
		if d.least.Len() == 0 || d.least.Min().hot {
			return nil
		}
		d.forget(d.least.Min())
	}
	tc := &tally{key: k, score: math.Inf(-1), index: -1}
	d.tenants[k] = tc
	d.least.Push(tc)
	return tc
}

// rescore updates tc's place in the heap after its count changed.
func (d *detector) rescore(tc *tally) {
	tc.score = math.Log(tc.v) + float64(tc.at.Sub(d.epoch))/float64(d.cfg.Window)
	d.least.Fix(tc)
}

func (d *detector) forget(tc *tally) {
	d.least.Remove(tc)
	delete(d.tenants, tc.key)
}

func (d *detector) heat(tc *tally) {
	tc.hot, tc.confirmed = true, false
	d.hotOnes[tc] = struct{}{}
}

// exit is the count below which tc cools down.
func (d *detector) exit(tc *tally) float64 {
	if tc.confirmed {
		return min(d.cfg.Exit, d.cfg.Suspect/4)
	}
	return d.cfg.Exit
}

// sweep cools down hot tenants whose count fell below Exit and forgets
// tenants and shards whose count decayed below forgetBelow; it leaves skip
// alone.
func (d *detector) sweep(now time.Time, skip hotKey) []cooled {
	d.lastSweep = now
	var out []cooled
	for tc := range d.hotOnes {
		if tc.key != skip && tc.valueAt(now, d.cfg.Window) < d.exit(tc) {
			tc.hot = false
			delete(d.hotOnes, tc)
			out = append(out, cooled(tc.key))
		}
	}
	for d.least.Len() > 0 {
		tc := d.least.Min()
		if tc.hot || tc.key == skip || tc.valueAt(now, d.cfg.Window) >= forgetBelow {
			break
		}
		d.forget(tc)
	}
	for k, sh := range d.shards {
		if sh.all.valueAt(now, d.cfg.Window) < forgetBelow && !sh.view.asking {
			delete(d.shards, k)
		}
	}
	return out
}

// active returns the number of hot tenants.
func (d *detector) active() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.hotOnes)
}

// mayAttach reports whether a start on path, with policy, may reach a
// running workflow instead of creating one: a SignalWithStart does unless
// it terminates the running one, and another start does with
// USE_EXISTING. Such starts are not counted.
func mayAttach(path string, policy enumspb.WorkflowIdConflictPolicy) bool {
	if path == "SignalWithStartWorkflow" {
		return policy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING
	}
	return policy == enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
}
