package workers

import (
	"context"
	"sync"
	"time"
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
// A poll is granted when used + young + eager < limit and its key (task
// queue and kind) is not held. A key is held while it has an aged poll, or
// while it has any poll and is cold: its last poll to end came back empty
// (or it has had none). Workflow polls, which reserve before choosing
// between the normal and the sticky queue, are never held. An eager
// reservation is granted when the same sum is under the limit.
//
// Why no queue with work starves: a waiting poll is held back only by
// capacity or by a poll of its own key. A poll of a queue with work returns
// that work at once, which releases the key; young polls leave the count
// within idleAfter (they become tasks, or age), and tasks end, which makes
// capacity. Among waiters not held, the one whose key has the fewest tasks
// running and polls out goes first (arrival order among equals), so a queue
// with nothing running takes the next free slot instead of waiting behind a
// busy queue's pollers; every grant raises its key's load, so a busy queue's
// turn comes once the others have their share. There is at most one waiter
// per poller.
//
// In a strict pool, a task from an aged poll that finds no room (or other
// such tasks waiting) waits in markUsed, ahead of every poll, until a task
// ends: then used + young + eager never exceeds the limit, so neither do
// running tasks.
//
// Why the running tasks stay near the limit: when a grant is made the
// counted sum is at most the limit afterwards, and moving a young or eager
// grant to used keeps it. Only an aged poll returning a task raises it. A
// cold key has at most one poll, so at most one aged; a hot key (its last
// poll brought a task) at most as many as its pollers, until a poll comes
// back empty. Under steady load polls return tasks at once and never age.
type pool struct {
	limit     int
	strict    bool
	idleAfter time.Duration
	clock     clock

	mu      sync.Mutex // protects the fields below
	used    int
	eager   int
	young   []*grant // in grant order, so by age; may hold grants no longer young
	nYoung  int
	keys    map[pollKey]*keyState
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
	hot     bool // its last poll to end returned a task
}

// load is what orders waiters: a key's tasks running and polls out.
func (ks *keyState) load() int { return ks.running + ks.polls }

func (p *pool) key(k pollKey) *keyState {
	ks := p.keys[k]
	if ks == nil {
		ks = &keyState{}
		p.keys[k] = ks
	}
	return ks
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
	return &pool{limit: limit, idleAfter: idleAfter, clock: c, keys: map[pollKey]*keyState{}}
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
		p.key(g.key).hot = true
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
	p.key(g.key).running++
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
		p.key(g.key).running--
	case grantYoung, grantAged: // an empty poll
		p.key(g.key).hot = false
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
		p.key(g.key).polls--
	case grantEager:
		p.eager--
	case grantAged:
		ks := p.key(g.key)
		ks.aged--
		ks.polls--
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
			p.key(g.key).aged++
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
		p.key(h.g.key).running++
		close(h.ch)
	}
	for len(p.held) == 0 && p.roomLocked() {
		next := -1
		for i, w := range p.waiters {
			if p.heldLocked(w.key) {
				continue
			}
			if next < 0 || p.key(w.key).load() < p.key(p.waiters[next].key).load() {
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
		p.key(w.key).polls++
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
