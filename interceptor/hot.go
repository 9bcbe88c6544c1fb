package interceptor

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/tqrouter/tqrouter/routing"
)

// Defaults of [HotTenants].
const (
	DefaultHotWindow     = 5 * time.Second
	DefaultHotEnter      = 5
	DefaultHotShare      = 0.5
	DefaultHotMaxTenants = 10000
)

// HotTenants says when the router isolates a tenant whose starts flood. The
// router counts each tenant's starts of each kind, every start counting 1
// when it is made and decaying by a factor e every Window (so a burst of n
// starts counts n, and a steady rate of r starts a second counts about r
// times Window). A tenant becomes hot when its count reaches Enter (within
// half a start, so that a burst of Enter starts made over some
// milliseconds counts as Enter) and is at least Share of its shard queue's
// count (all tenants of the shard, its own starts included), and it stays
// hot until its count falls below Exit or below Share/2 of its shard's:
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
// The counts live in the client process: each process decides on its own.
// In a fleet of N processes that each see 1/N of a tenant's starts, a
// tenant is hot when its starts through one process reach Enter, so set
// Enter per process (the fleet-wide threshold divided by N) when the load
// is spread evenly. Processes may disagree for a while about a tenant near
// the threshold; a tenant's starts then go to both its shard and its
// overflow queue, both polled, and nothing is lost. Starts made by
// workflow code (children, continue-as-new, activities) never consult the
// counts: they depend on history only, so replays make the same decision.
type HotTenants struct {
	// Window is the time constant of the counts; default
	// [DefaultHotWindow].
	Window time.Duration
	// Enter is the count at which a tenant becomes hot; default
	// [DefaultHotEnter].
	Enter float64
	// Exit is the count below which a hot tenant cools down; default
	// Enter/4. It must be below Enter.
	Exit float64
	// Share is the least share of its shard's count a tenant must have to
	// become hot, from 0 to 1; default [DefaultHotShare]. A tenant that is
	// one of many busy tenants of a busy shard is not a flood.
	Share float64
	// MaxTenants bounds how many tenants are counted at once (default
	// [DefaultHotMaxTenants]); tenants that have made no start for a few
	// windows are forgotten, and while the bound is reached new tenants are
	// not counted (never hot).
	MaxTenants int

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
	}
	return nil
}

// burstSlack is how far below Enter a count may be and still make its
// tenant hot: the starts of a burst are made milliseconds apart, and a
// burst of Enter starts decays to a count a little under Enter before its
// last start is counted.
const burstSlack = 0.5

// detector keeps the decayed start counts of tenants and shards.
type detector struct {
	cfg HotTenants
	now func() time.Time

	mu        sync.Mutex       // protects the fields below
	tenants   map[hotKey]count // by value: a new tenant costs no allocation of its own
	shards    map[shardKey]count
	hot       int       // tenants hot now
	lastSweep time.Time // when cooled and idle tenants were last swept
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
	v   float64
	at  time.Time
	hot bool
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

func newDetector(cfg HotTenants, now func() time.Time) *detector {
	if now == nil {
		now = time.Now
	}
	return &detector{cfg: cfg.withDefaults(), now: now, tenants: map[hotKey]count{}, shards: map[shardKey]count{}}
}

// observe counts one start of tenant, whose home is shard of kind, and says
// whether the tenant is hot now, how its state changed, and which other
// tenants cooled down in a sweep this start triggered.
func (d *detector) observe(kind routing.QueueKind, shard int, tenant string) (hot bool, ch change, swept []cooled) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	sk := shardKey{kind, shard}
	sc := d.shards[sk]
	shardBefore, shardCount := sc.add(now, d.cfg.Window)
	d.shards[sk] = sc
	tk := hotKey{kind, tenant}
	if now.Sub(d.lastSweep) >= d.cfg.Window/10 {
		swept = d.sweep(now, tk) // first, to make room; this tenant is judged below
	}
	tc, tracked := d.tenants[tk]
	if !tracked && len(d.tenants) >= d.cfg.MaxTenants {
		return false, unchanged, swept
	}
	// A tenant enters on its count with this start, and leaves on its
	// count before it, as the sweep judges an idle tenant.
	before, v := tc.add(now, d.cfg.Window)
	switch {
	case !tc.hot && v+burstSlack >= d.cfg.Enter && v >= d.cfg.Share*shardCount:
		tc.hot, ch = true, becameHot
		d.hot++
	case tc.hot && (before < d.cfg.Exit || before < d.cfg.Share/2*shardBefore):
		tc.hot, ch = false, cooledDown
		d.hot--
	}
	d.tenants[tk] = tc
	return tc.hot, ch, swept
}

// sweep cools down hot tenants whose count fell below Exit and forgets
// tenants and shards whose count decayed below one hundredth of a start;
// it leaves skip alone.
func (d *detector) sweep(now time.Time, skip hotKey) []cooled {
	d.lastSweep = now
	var out []cooled
	for k, c := range d.tenants {
		if k == skip {
			continue
		}
		v := c.valueAt(now, d.cfg.Window)
		if c.hot && v < d.cfg.Exit {
			c.hot = false
			d.tenants[k] = c
			d.hot--
			out = append(out, cooled(k))
		}
		if !c.hot && v < 0.01 {
			delete(d.tenants, k)
		}
	}
	for k, c := range d.shards {
		if c.valueAt(now, d.cfg.Window) < 0.01 {
			delete(d.shards, k)
		}
	}
	return out
}

// active returns the number of hot tenants.
func (d *detector) active() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hot
}
