package workers

import (
	"context"
	"sync"
	"time"

	"github.com/tqrouter/tqrouter/routing"
)

// pool is one count of a [Budget]: the rule that decides which polls may
// go ahead.
//
// Every reservation is a grant in one of these states:
//
//	young   a poll under way for less than idleAfter: counts
//	eager   a slot for an eager task on its way: counts
//	aged    a poll under way for idleAfter or longer, so its queue is most
//	        likely idle: does not count
//	used    a task running: counts
//
// A key (task queue and kind) is hot when its last poll to end brought a
// task within idleAfter of its grant: the queue had a backlog. It is cold
// otherwise: its last poll came back empty, or brought a task only later
// (the task arrived at an idle queue), or it has had none.
//
// A poll is granted when used + young + eager < limit and its key is not
// held, or, for a key of a class under its fair share (see the headroom
// below), when that sum is under limit + headroom. A key is held while it
// has an aged poll, or while it has any poll and is cold. An idle key, one that is cold for a poll that ended (not
// for want of any), with nothing running and no poll out, is granted its
// one poll at once, aged: it waits for work, not for room, so a task that
// reaches an idle queue starts without waiting for capacity, and no idle
// queue's poll holds capacity meanwhile. A key never polled is not idle:
// its first poll is counted, so workers that start with a backlog on many
// queues take it within the limit. Workflow polls, which reserve before
// choosing between the normal and the sticky queue, are never held nor
// granted aged. An eager reservation is granted when used + young + eager
// is under the limit.
//
// Why no queue with work starves: a waiting poll is held back only by
// capacity or by a poll of its own key. A poll of a queue with work returns
// that work at once, which releases the key; young polls leave the count
// within idleAfter (they become tasks, or age), and tasks end, which makes
// capacity. Among waiters not held, the next grant goes to a waiter of the
// class with the least load (its tasks running and young polls out, plus
// one, times its weight), and within it
// to the key with the fewest tasks running and polls out (arrival order
// among equals). A key's class and the class's weight come from its
// queue's name (see queueClass): the class is a router's queue kind, or
// its overflow queues, so kinds share contested capacity equally whatever
// their number of queues; the weight is overflowWeight for overflow
// queues, which hold only tenants the router found flooding, else 1. So a
// kind with little
// running takes the next free slot ahead of a kind that floods, and the
// overflow queues get a slot only when their load is under the other
// classes'. Every grant raises its class's and key's load, so every
// queue's turn comes. There is at most one waiter per poller.
//
// The headroom: once the limit is reached, a class under its fair share
// (the limit times its inverse weight over the sum of the inverse weights
// of the classes active: with tasks running, young polls, or waiters not
// held) is still granted polls until limit + headroom, and the others wait
// until the count is back under the limit. So a kind that was idle when a
// flood filled the limit does not wait for the flood's tasks to end, and
// the flood, over its share, pays the excess back from its own next
// grants and is granted nothing past the limit itself. The headroom is
// for counted grants; eager reservations stay within the limit.
//
// In a strict pool, a task from an aged poll that finds no room (or other
// such tasks waiting) waits in markUsed, ahead of every poll, until a task
// ends: then used + young + eager never exceeds the limit, so neither do
// running tasks.
//
// Why the running tasks stay near the limit: when a counted grant is made
// the counted sum is at most the limit afterwards (limit + headroom for a
// class under its share), and moving a young or eager grant to used keeps
// it. Only an aged poll returning a task raises it. A cold key has at most one poll, so at most one aged; a hot key at
// most as many as its pollers, until a poll comes back empty or brings a
// task after aging, which makes it cold. Under steady load polls return
// tasks at once and never age.
type pool struct {
	limit     int
	headroom  int                                           // see pool: counted grants past limit for classes under their share
	pass      int                                           // counts underShareLocked calls, to mark active classes once each
	classify  func(queue string) (class string, weight int) // nil: one class, weight 1
	strict    bool
	idleAfter time.Duration
	clock     clock

	mu      sync.Mutex // protects the fields below
	used    int
	eager   int
	young   []*grant // in grant order, so by age; may hold grants no longer young
	nYoung  int
	keys    map[pollKey]*keyState
	classes map[string]*classState
	waiters []*waiter
	held    []heldTask  // strict pools only; served before waiters
	timer   func() bool // stops the pending aging timer, if any
	timerAt time.Time
}

// pollKey tells polls apart: one server task queue and kind of task, as
// far as the reservation says.
type pollKey struct {
	queue string
	kind  string
	// mixed: the key's polls may go to more than one server queue, so an
	// idle poll says nothing about the others (a workflow poller reserves
	// its slot before it picks the normal or the sticky queue). Its polls
	// are not held back by its aged ones.
	mixed bool
}

// keyState is what the pool knows of one key's polls.
type keyState struct {
	polls   int  // young and aged poll grants
	aged    int  // aged poll grants
	running int  // used grants: its tasks running now
	hot     bool // its last poll to end brought a task within idleAfter
	seen    bool // a poll of it has ended
	class   *classState
}

// classState is what the pool knows of a class of keys (see pool).
type classState struct {
	counted int // the class's tasks running and young polls
	weight  int // see load
	mark    int // the pool's pass in which it was last found active
}

// load is what orders the waiters of classes: the class's tasks running
// and young polls, plus one so that the weight counts for an idle class
// too, times its weight.
func (cs *classState) load() int { return (cs.counted + 1) * cs.weight }

// load is what orders the waiters of one class: a key's tasks running and
// polls out.
func (ks *keyState) load() int { return ks.running + ks.polls }

// overflowWeight is the weight of a kind's overflow queues, which hold
// only tenants whose starts flood: while other classes wait, they get a
// slot only when their count is under a quarter of the others', and their
// fair share is a quarter of a kind's.
const overflowWeight = 4

// queueClass is a Budget's classify: a routed queue's class is its prefix
// and kind, weight 1, except that a kind's overflow queues are a class of
// their own, weight overflowWeight; any other queue (a legacy queue during
// a migration) is a class of its own.
func queueClass(queue string) (string, int) {
	prefix, d, ok := routing.SplitTaskQueue(queue)
	if !ok {
		return queue, 1
	}
	if d.Role == routing.OverflowQueue {
		return prefix + "." + string(d.Kind) + "." + d.Role.String(), overflowWeight
	}
	return prefix + "." + string(d.Kind), 1
}

func (p *pool) key(k pollKey) *keyState {
	ks := p.keys[k]
	if ks == nil {
		class, weight := "", 1
		if p.classify != nil {
			class, weight = p.classify(k.queue)
		}
		cs := p.classes[class]
		if cs == nil {
			cs = &classState{weight: weight}
			p.classes[class] = cs
		}
		ks = &keyState{class: cs}
		p.keys[k] = ks
	}
	return ks
}

// The changes of a key's counts, which keep its class's count.
func (ks *keyState) grantYoung()  { ks.polls++; ks.class.counted++ }
func (ks *keyState) grantAged()   { ks.polls++; ks.aged++ }
func (ks *keyState) age()         { ks.aged++; ks.class.counted-- }
func (ks *keyState) leaveYoung()  { ks.polls--; ks.class.counted-- }
func (ks *keyState) leaveAged()   { ks.polls--; ks.aged-- }
func (ks *keyState) taskStarted() { ks.running++; ks.class.counted++ }
func (ks *keyState) taskEnded()   { ks.running--; ks.class.counted-- }

// before reports whether a waiter of a goes before one of b (see pool).
func (p *pool) before(a, b pollKey) bool {
	ka, kb := p.key(a), p.key(b)
	if ka.class != kb.class {
		return ka.class.load() < kb.class.load()
	}
	return ka.load() < kb.load()
}

type grantState int

const (
	grantYoung grantState = iota
	grantEager
	grantAged
	grantUsed
	grantHeld // strict pools: a task from an aged poll waiting for room
	grantReleased
)

type heldTask struct {
	g  *grant
	ch chan struct{} // closed when the task may run
}

// grant is one reservation; it travels in the SDK permit's UserData.
type grant struct {
	key   pollKey
	at    time.Time
	state grantState // guarded by pool.mu
}

type waiter struct {
	key pollKey
	ch  chan *grant // buffered: the grant is sent under pool.mu
}

func newPool(limit int, idleAfter time.Duration, c clock) *pool {
	return &pool{limit: limit, idleAfter: idleAfter, clock: c, keys: map[pollKey]*keyState{}, classes: map[string]*classState{}}
}

// reserve blocks until a poll for key may go ahead or ctx is done.
func (p *pool) reserve(ctx context.Context, key pollKey) (*grant, error) {
	w := &waiter{key: key, ch: make(chan *grant, 1)}
	p.mu.Lock()
	p.waiters = append(p.waiters, w)
	p.dispatchLocked()
	p.mu.Unlock()

	select {
	case g := <-w.ch:
		return g, nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return nil, ctx.Err()
		}
	}
	// Granted as ctx ended: give it back.
	p.releaseLocked(<-w.ch)
	return nil, ctx.Err()
}

// tryReserve grants an eager slot if the budget has room now, or returns nil.
func (p *pool) tryReserve(key pollKey) *grant {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dispatchLocked() // room that aging made goes to held tasks and waiting polls first
	if len(p.held) > 0 || !p.roomLocked() {
		return nil
	}
	p.eager++
	return &grant{key: key, at: p.clock.Now(), state: grantEager}
}

// markUsed counts g's task as running. In a strict pool, a task from an
// aged poll that finds no room waits here until a task ends.
func (p *pool) markUsed(g *grant) {
	p.mu.Lock()
	p.ageLocked(p.clock.Now())
	wasAged := g.state == grantAged
	if g.state == grantYoung || wasAged {
		// A task that came at once shows a backlog; one that came later
		// arrived at an idle queue.
		ks := p.key(g.key)
		ks.hot, ks.seen = p.clock.Now().Sub(g.at) < p.idleAfter, true
	}
	if !p.leaveLocked(g) {
		p.mu.Unlock()
		return
	}
	if p.strict && wasAged && (len(p.held) > 0 || !p.roomLocked()) {
		h := heldTask{g: g, ch: make(chan struct{})}
		g.state = grantHeld
		p.held = append(p.held, h)
		p.dispatchLocked()
		p.mu.Unlock()
		<-h.ch
		return
	}
	g.state = grantUsed
	p.used++
	p.key(g.key).taskStarted()
	p.dispatchLocked()
	p.mu.Unlock()
}

func (p *pool) release(g *grant) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked(g)
}

func (p *pool) releaseLocked(g *grant) {
	switch g.state {
	case grantUsed:
		p.used--
		p.key(g.key).taskEnded()
	case grantYoung, grantAged: // an empty poll
		ks := p.key(g.key)
		ks.hot, ks.seen = false, true
		p.leaveLocked(g)
	default:
		p.leaveLocked(g)
	}
	g.state = grantReleased
	p.dispatchLocked()
}

// leaveLocked takes a reserved grant out of its count and reports whether
// it was reserved (not already used or released).
func (p *pool) leaveLocked(g *grant) bool {
	switch g.state {
	case grantYoung:
		p.nYoung-- // its entry in p.young is dropped when reached
		p.key(g.key).leaveYoung()
	case grantEager:
		p.eager--
	case grantAged:
		p.key(g.key).leaveAged()
	default:
		return false
	}
	return true
}

// heldLocked reports whether polls of k wait for k's idle poll to return.
func (p *pool) heldLocked(k pollKey) bool {
	if k.mixed {
		return false
	}
	ks := p.key(k)
	return ks.aged > 0 || (!ks.hot && ks.polls > 0)
}

func (p *pool) roomLocked() bool { return p.used+p.nYoung+p.eager < p.limit }

// underShareLocked returns whether a class is under its fair share of the
// limit: limit times its inverse weight over the sum of the active
// classes' (those with tasks running, young polls, or waiters not held).
func (p *pool) underShareLocked() func(*classState) bool {
	p.pass++
	var sum float64
	for _, cs := range p.classes {
		if cs.counted > 0 {
			cs.mark = p.pass
			sum += 1 / float64(cs.weight)
		}
	}
	for _, w := range p.waiters {
		if cs := p.key(w.key).class; cs.mark != p.pass && !p.heldLocked(w.key) {
			cs.mark = p.pass
			sum += 1 / float64(cs.weight)
		}
	}
	return func(cs *classState) bool {
		return float64(cs.counted)*float64(cs.weight)*sum < float64(p.limit)
	}
}

// ageLocked moves polls granted idleAfter ago or earlier to aged.
func (p *pool) ageLocked(now time.Time) {
	n := 0
	for _, g := range p.young {
		if g.state == grantYoung {
			if now.Sub(g.at) < p.idleAfter {
				break
			}
			g.state = grantAged
			p.nYoung--
			p.key(g.key).age()
		}
		n++
	}
	p.young = p.young[n:]
}

// dispatchLocked grants what it can to waiters in arrival order, and arms
// a timer for the next aging if capacity held by young polls is all that
// keeps a waiter waiting.
func (p *pool) dispatchLocked() {
	now := p.clock.Now()
	p.ageLocked(now)
	for len(p.held) > 0 && p.roomLocked() {
		h := p.held[0]
		p.held = p.held[1:]
		h.g.state = grantUsed
		p.used++
		p.key(h.g.key).taskStarted()
		close(h.ch)
	}
	p.grantIdleLocked(now)
	for len(p.held) == 0 && p.used+p.nYoung+p.eager < p.limit+p.headroom {
		room := p.roomLocked()
		var under func(*classState) bool
		if !room {
			under = p.underShareLocked()
		}
		next := -1
		for i, w := range p.waiters {
			if p.heldLocked(w.key) || (!room && !under(p.key(w.key).class)) {
				continue
			}
			if next < 0 || p.before(w.key, p.waiters[next].key) {
				next = i
			}
		}
		if next < 0 {
			break
		}
		w := p.waiters[next]
		p.waiters = append(p.waiters[:next], p.waiters[next+1:]...)
		g := &grant{key: w.key, at: now, state: grantYoung}
		p.young = append(p.young, g)
		p.nYoung++
		p.key(w.key).grantYoung()
		w.ch <- g
	}

	if len(p.waiters)+len(p.held) == 0 || p.roomLocked() || p.nYoung == 0 {
		return
	}
	var next time.Time
	for _, g := range p.young {
		if g.state == grantYoung {
			next = g.at.Add(p.idleAfter)
			break
		}
	}
	if p.timer != nil && p.timerAt.Equal(next) {
		return
	}
	if p.timer != nil {
		p.timer()
	}
	p.timerAt = next
	p.timer = p.clock.AfterFunc(next.Sub(now), func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.timer = nil
		p.dispatchLocked()
	})
}

// grantIdleLocked grants each idle key's one poll at once, aged: a key
// that is cold for a poll that ended, has nothing running and no poll out
// waits for work, not for room.
func (p *pool) grantIdleLocked(now time.Time) {
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		ks := p.key(w.key)
		if w.key.mixed || ks.hot || !ks.seen || ks.polls > 0 || ks.running > 0 {
			kept = append(kept, w)
			continue
		}
		ks.grantAged()
		w.ch <- &grant{key: w.key, at: now, state: grantAged}
	}
	clear(p.waiters[len(kept):])
	p.waiters = kept
}

type poolSnapshot struct {
	used, young, eager, aged, waiting int
}

func (p *pool) snapshot() poolSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ageLocked(p.clock.Now())
	s := poolSnapshot{used: p.used, young: p.nYoung, eager: p.eager}
	for _, ks := range p.keys {
		s.aged += ks.aged
	}
	for _, w := range p.waiters {
		if !p.heldLocked(w.key) {
			s.waiting++
		}
	}
	s.waiting += len(p.held)
	return s
}

// clock is the time source of a pool; tests use a manual one.
type clock interface {
	Now() time.Time
	// AfterFunc calls f after d and returns a function that cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
