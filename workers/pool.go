package workers

import (
	"context"
	"sync"
	"time"

	"github.com/tqrouter/tqrouter/internal/heapx"
)

// pool is one count of a [Budget]: the mechanism that decides which polls
// may go ahead. Who goes first among the polls it may grant is the policy
// (policy.go).
//
// Every reservation is a grant in one of these states:
//
//	young   a poll under way for less than idleAfter: counts
//	eager   a slot for an eager task on its way: counts
//	aged    a poll under way for idleAfter or longer, or granted to an
//	        idle key: its queue is most likely idle; does not count
//	used    a task running: counts
//
// A key (task queue and kind) is hot when its last poll to end brought a
// task within idleAfter of its grant: the queue had a backlog. It is cold
// otherwise, and when new.
//
// The rules:
//
//  1. An idle key (cold, nothing running, no poll out) is granted its
//     one poll at once, aged: it waits for work, not for room, so a task
//     that reaches an idle queue starts at once and no idle queue's poll
//     holds capacity. A key never polled is idle too, but while the pool
//     has room its first poll is granted by rule 3, counted (workers that
//     start with a backlog on a few queues stay within the limit); once
//     the pool is full, every key never polled has its first poll at
//     once, aged, so a worker that starts with thousands of idle queues
//     has a poll on each and finds the one with work without waiting for
//     those polls to age a limit's worth at a time.
//  2. A key is held (its polls wait) while it has an aged poll, or any
//     poll while cold: an idle queue has one poll out, a busy one all its
//     pollers.
//  3. Any other waiting poll is granted, young, while its class may take
//     a slot (mayTake: used + young + eager < limit, or < limit + headroom
//     for a class under its fair share), in the policy's order.
//  4. An eager reservation is granted while used + young + eager < limit
//     and no task is held (rule 5); also, up to limit + headroom and
//     whether tasks are held or not, if its key has a light token (rule
//     6), which it uses up.
//  5. A task from an aged poll starts if its class may take a slot (the
//     same mayTake), or, up to limit + headroom, if its key has nothing
//     running (mayStart); otherwise it is held: it waits in markUsed until
//     it may, ahead of every poll, after the key's earlier held tasks, and
//     its key has no other poll granted by rule 1 meanwhile.
//  6. A light token is given to an activity key (addLight) when a
//     workflow of the process schedules an activity on its own queue for
//     a fairness key with no activity running on that queue in the
//     process (light.go): the eager reservation the SDK then asks for, as
//     the workflow task completes, may use it (rule 4), so a quiet
//     tenant's activity starts within the headroom even when its queue's
//     kind fills the limit. A granted eager reservation uses up a token
//     of its key even when the limit had room: a token stands for the one
//     request that follows it, and one left over would let the next
//     request on the queue, most likely a flood's, past the limit. A
//     token unused for lightTokenTTL expires; a key holds at most
//     headroom of them. The reservation does not say which workflow
//     asks: another workflow's eager reservation on the same queue in
//     that moment may use the token instead, so an activity whose key has
//     activities running in the process asks for no eager slot while the
//     limit is full (light.go); it would be refused anyway.
//
// Workflow polls whose server queue is not known (the SDK reserves before
// choosing between the normal and the sticky queue) are "mixed": rules 1
// and 2 do not apply to them.
//
// The bound: used + young + eager ≤ limit + headroom, always. A counted
// grant, a task from an aged poll and an eager slot each raise the sum
// only where mayTake, mayStart and mayEager allow, and a young or eager
// grant becoming used keeps it.
// Before, a task from an aged poll always started: running tasks went past
// limit + headroom by up to one per idle queue (one per poller of a queue
// whose polls aged with a backlog), and W worker processes' budgets each
// went past their own, W times the idle queues in all (the demo with 3
// processes of 4 slots: 19-23 running on 12; see docs/workers.md).
//
// Why no queue with work starves: a waiting poll is held back only by
// capacity or by a poll of its own key (rule 2), and a poll of a queue
// with work returns it at once, which releases the key; young polls leave
// the count within idleAfter (they become tasks, or age), and tasks end.
// The policy raises every grantee's count, so every waiter's turn comes.
//
// The cost: waiters wait in their key's queue; a key that has waiters and
// is not held is in its class's heap, and a class with such keys in the
// pool's heap, both in the policy's order. A grant and every change of a
// key's counts re-sort that key and its class: O(log n), whatever the
// number of waiting polls. Held tasks (rule 5) are looked at in a list, on
// each dispatch while any are held: there are few (tasks that reached
// queues with an aged poll while the pool was full), and none under
// steady load.
type pool struct {
	limit     int
	headroom  int // slots past limit for classes under their share
	idleAfter time.Duration
	clock     clock

	mu       sync.Mutex // protects the fields below
	now      time.Time  // the time of the call under way, read once when it takes mu
	used     int
	eager    int
	nYoung   int
	young    []*grant // in grant order, so by age; may hold grants no longer young
	keys     map[pollKey]*keyState
	named    map[string]*classState
	ready    []*readyClasses // per weight: classes with keys whose waiters may be granted
	active   map[int]int     // weight → classes active (see underShare)
	seq      uint64          // arrival order of waiters
	held     []heldTask      // tasks from aged polls waiting for room (rule 5), in arrival order
	timer    func() bool     // stops the pending aging timer, if any
	timerAt  time.Time
	nWaiting int                     // waiters of keys not held
	fresh    []*keyState             // keys never granted a poll that had waiters; see rule 1
	light    map[pollKey][]time.Time // light tokens' expiry times by key, oldest first (rule 6)
}

// pollKey tells polls apart: one server task queue and kind of task, as
// far as the reservation says.
type pollKey struct {
	queue string
	kind  string
	// mixed: the key's polls may go to more than one server queue, so an
	// idle poll says nothing about the others (a workflow poller that
	// reserves its slot before it picks the normal or the sticky queue).
	mixed bool
}

// keyState is what the pool knows of one key's polls.
type keyState struct {
	key     pollKey
	class   *classState
	polls   int  // young and aged poll grants
	aged    int  // aged poll grants
	running int  // used grants: its tasks running now
	eager   int  // eager grants: its tasks on their way
	hot     bool // its last poll to end brought a task within idleAfter
	held    int  // its tasks held (rule 5)
	waiters []*waiter
	index   int  // in class.keys; -1 when not there
	ready   bool // has waiters and is not held: its waiters count in pool.nWaiting
	nReady  int  // how many of its waiters pool.nWaiting counts
	polled  bool // it has been granted a poll
	inFresh bool // in pool.fresh
}

func (ks *keyState) seq() uint64 { return ks.waiters[0].seq }

// classState is what the pool knows of a class of keys.
type classState struct {
	name    string // "" for a group's or tuner's own class
	weight  int
	counted int                   // its tasks running, young polls and eager slots
	keys    heapx.Heap[*keyState] // its keys with waiters that may be granted, by keyBefore
	index   int                   // in pool.ready[weight]; -1 when not there
	active  bool                  // counted in pool.active
}

// class returns the pool's class named name, or a new class of its own for
// "". A name keeps the weight it was first given.
func (p *pool) class(name string, weight int) *classState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cs := p.named[name]; cs != nil && name != "" {
		return cs
	}
	cs := &classState{name: name, weight: weight, index: -1,
		keys: heapx.New(keyBefore, func(ks *keyState) *int { return &ks.index })}
	if name != "" {
		p.named[name] = cs
	}
	return cs
}

// keyLocked returns k's state; a new key joins class cs.
func (p *pool) keyLocked(k pollKey, cs *classState) *keyState {
	ks := p.keys[k]
	if ks == nil {
		ks = &keyState{key: k, class: cs, index: -1}
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
	grantHeld // a task from an aged poll waiting for room (rule 5)
	grantReleased
)

type heldTask struct {
	g  *grant
	ch chan struct{} // closed when the task may run
}

// grant is one reservation; it travels in the SDK permit's UserData.
type grant struct {
	ks    *keyState
	at    time.Time
	state grantState // guarded by pool.mu
}

type waiter struct {
	seq uint64
	ch  chan *grant // buffered: the grant is sent under pool.mu
}

func newPool(limit int, idleAfter time.Duration, c clock) *pool {
	return &pool{
		limit: limit, idleAfter: idleAfter, clock: c,
		keys: map[pollKey]*keyState{}, named: map[string]*classState{}, active: map[int]int{},
		light: map[pollKey][]time.Time{},
	}
}

// reserve blocks until a poll for key may go ahead or ctx is done; a key
// new to the pool joins class cs.
func (p *pool) reserve(ctx context.Context, key pollKey, cs *classState) (*grant, error) {
	p.mu.Lock()
	p.now = p.clock.Now()
	ks := p.keyLocked(key, cs)
	p.seq++
	w := &waiter{seq: p.seq, ch: make(chan *grant, 1)}
	ks.waiters = append(ks.waiters, w)
	p.updateLocked(ks)
	p.dispatchLocked()
	p.mu.Unlock()

	select {
	case g := <-w.ch:
		return g, nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = p.clock.Now()
	for i, x := range ks.waiters {
		if x == w {
			ks.waiters = append(ks.waiters[:i], ks.waiters[i+1:]...)
			p.updateLocked(ks)
			p.dispatchLocked()
			return nil, ctx.Err()
		}
	}
	// Granted as ctx ended: give it back.
	p.releaseLocked(<-w.ch)
	return nil, ctx.Err()
}

// tryReserve grants an eager slot for key (joining class cs if new) if the
// budget has room now, or returns nil (rules 4 and 6).
func (p *pool) tryReserve(key pollKey, cs *classState) *grant {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = p.clock.Now()
	p.dispatchLocked() // room that aging made goes to held tasks and waiting polls first
	counted := p.countedLocked()
	light := p.liveLightLocked(key) > 0
	if !mayEager(counted, p.limit, p.headroom, len(p.held) > 0, light) {
		return nil
	}
	if light { // used up even if the limit had room: see rule 6
		if p.light[key] = p.light[key][1:]; len(p.light[key]) == 0 {
			delete(p.light, key)
		}
	}
	p.eager++
	ks := p.keyLocked(key, cs)
	ks.eager++
	ks.class.counted++
	p.updateLocked(ks)
	return &grant{ks: ks, at: p.now, state: grantEager}
}

// lightTokenTTL is how long a light token (rule 6) waits to be used: far
// longer than a workflow task takes from scheduling the activity to
// asking for its eager slot, and short enough that tokens never pile up.
const lightTokenTTL = 2 * time.Second

// addLight gives key a light token (rule 6), unless it holds headroom of
// them already.
func (p *pool) addLight(key pollKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = p.clock.Now()
	if p.liveLightLocked(key) < p.headroom {
		p.light[key] = append(p.light[key], p.now.Add(lightTokenTTL))
	}
}

// liveLightLocked drops key's expired light tokens and returns how many it
// holds.
func (p *pool) liveLightLocked(key pollKey) int {
	tokens := p.light[key]
	i := 0
	for i < len(tokens) && !p.now.Before(tokens[i]) {
		i++
	}
	if i == len(tokens) {
		delete(p.light, key)
		return 0
	}
	p.light[key] = tokens[i:]
	return len(tokens) - i
}

// markUsed counts g's task as running. A task from an aged poll whose
// class may not take a slot now waits here until it may (rule 5).
func (p *pool) markUsed(g *grant) {
	p.mu.Lock()
	p.now = p.clock.Now()
	now := p.now
	p.ageLocked(now)
	wasAged := g.state == grantAged
	if g.state == grantYoung || wasAged {
		// A task that came at once shows a backlog; one that came later
		// arrived at an idle queue.
		g.ks.hot = now.Sub(g.at) < p.idleAfter
	}
	if !p.leaveLocked(g) {
		p.mu.Unlock()
		return
	}
	if wasAged && (g.ks.held > 0 || !mayStart(g.ks, p.countedLocked(), p.limit, p.headroom, p.invWeightsLocked)) {
		h := heldTask{g: g, ch: make(chan struct{})}
		g.state = grantHeld
		g.ks.held++
		p.held = append(p.held, h)
		p.updateLocked(g.ks)
		p.dispatchLocked()
		p.mu.Unlock()
		<-h.ch
		return
	}
	p.startLocked(g)
	p.dispatchLocked()
	p.mu.Unlock()
}

func (p *pool) startLocked(g *grant) {
	g.state = grantUsed
	p.used++
	g.ks.running++
	g.ks.class.counted++
	p.updateLocked(g.ks)
}

func (p *pool) release(g *grant) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = p.clock.Now()
	p.releaseLocked(g)
}

func (p *pool) releaseLocked(g *grant) {
	switch g.state {
	case grantUsed:
		p.used--
		g.ks.running--
		g.ks.class.counted--
		p.updateLocked(g.ks)
	case grantYoung, grantAged: // an empty poll
		g.ks.hot = false
		p.leaveLocked(g)
		p.updateLocked(g.ks)
	default:
		if p.leaveLocked(g) {
			p.updateLocked(g.ks)
		}
	}
	g.state = grantReleased
	p.dispatchLocked()
}

// leaveLocked takes a reserved grant out of its count and reports whether
// it was reserved (not already used or released). The caller updates the
// key: a poll that brings a task leaves and starts it in one step, so the
// key is never idle in between.
func (p *pool) leaveLocked(g *grant) bool {
	switch g.state {
	case grantYoung:
		p.nYoung-- // its entry in p.young is dropped when reached
		g.ks.polls--
		g.ks.class.counted--
	case grantEager:
		p.eager--
		g.ks.eager--
		g.ks.class.counted--
	case grantAged:
		g.ks.polls--
		g.ks.aged--
	default:
		return false
	}
	return true
}

// countedLocked is what counts against the limit: tasks running, young
// polls and eager slots.
func (p *pool) countedLocked() int { return p.used + p.nYoung + p.eager }

func (p *pool) roomLocked() bool { return p.countedLocked() < p.limit }

// full reports whether the limit is full now: an eager reservation is
// granted only with a light token (rule 6).
func (p *pool) full() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.roomLocked()
}

// heldLocked reports whether polls of ks wait for its idle poll to return
// (rule 2).
func heldLocked(ks *keyState) bool {
	return !ks.key.mixed && (ks.aged > 0 || (!ks.hot && ks.polls > 0))
}

// updateLocked applies rule 1 to ks and re-sorts it and its class after a
// change of their counts or waiters.
func (p *pool) updateLocked(ks *keyState) {
	if len(ks.waiters) > 0 && !ks.key.mixed && !ks.hot && ks.polls == 0 && ks.running == 0 && ks.held == 0 {
		switch {
		case ks.polled || !p.roomLocked():
			p.grantAgedLocked(ks)
		case !ks.inFresh:
			ks.inFresh = true
			p.fresh = append(p.fresh, ks)
		}
	}
	cs := ks.class
	ready := len(ks.waiters) > 0 && !heldLocked(ks)
	cs.keys.Set(ks, ready)
	p.nWaiting -= ks.nReady
	ks.ready, ks.nReady = ready, 0
	if ready {
		ks.nReady = len(ks.waiters)
		p.nWaiting += ks.nReady
	}
	p.readyClasses(cs.weight).Set(cs, cs.keys.Len() > 0)
	if active := cs.counted > 0 || cs.index >= 0; active != cs.active {
		cs.active = active
		if active {
			p.active[cs.weight]++
		} else if p.active[cs.weight]--; p.active[cs.weight] == 0 {
			delete(p.active, cs.weight)
		}
	}
}

// grantAgedLocked grants ks's first waiter a poll at once, aged (rule 1).
func (p *pool) grantAgedLocked(ks *keyState) {
	w := ks.waiters[0]
	ks.waiters = ks.waiters[1:]
	ks.polls++
	ks.aged++
	ks.polled = true
	w.ch <- &grant{ks: ks, at: p.now, state: grantAged}
}

// grantFreshLocked applies rule 1 to the keys never polled once the pool
// has no room: each has its first poll at once, aged.
func (p *pool) grantFreshLocked() {
	for len(p.fresh) > 0 && !p.roomLocked() {
		ks := p.fresh[0]
		p.fresh[0] = nil
		p.fresh = p.fresh[1:]
		ks.inFresh = false
		if !ks.polled && len(ks.waiters) > 0 && !ks.hot && ks.polls == 0 && ks.running == 0 && ks.held == 0 {
			p.grantAgedLocked(ks)
			p.updateLocked(ks)
		}
	}
}

// startHeldLocked starts, in arrival order, each held task that may start
// (rule 5). Held tasks that may not are of classes over their share, with
// tasks of their key running, while the count is at the limit, or of any
// class at limit + headroom.
func (p *pool) startHeldLocked() {
	if len(p.held) == 0 {
		return
	}
	kept := p.held[:0]
	for _, h := range p.held {
		if !mayStart(h.g.ks, p.countedLocked(), p.limit, p.headroom, p.invWeightsLocked) {
			kept = append(kept, h)
			continue
		}
		h.g.ks.held--
		p.startLocked(h.g)
		close(h.ch)
	}
	clear(p.held[len(kept):])
	p.held = kept
}

// invWeightsLocked is the sum of 1/weight over the active classes.
func (p *pool) invWeightsLocked() float64 {
	var sum float64
	for w, n := range p.active {
		sum += float64(n) / float64(w)
	}
	return sum
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
			g.ks.aged++
			g.ks.class.counted--
			p.updateLocked(g.ks)
		}
		n++
	}
	clear(p.young[:n])
	p.young = p.young[n:]
}

// dispatchLocked starts the held tasks that may start and grants what it
// can (rules 5 and 3), and arms a timer for the next aging if capacity
// held by young polls is all that keeps a waiter waiting.
func (p *pool) dispatchLocked() {
	now := p.now
	p.ageLocked(now)
	p.startHeldLocked()
	for {
		cs := p.nextLocked()
		if cs == nil {
			break
		}
		ks := cs.keys.Min()
		w := ks.waiters[0]
		ks.waiters = ks.waiters[1:]
		g := &grant{ks: ks, at: now, state: grantYoung}
		p.young = append(p.young, g)
		p.nYoung++
		ks.polls++
		ks.polled = true
		cs.counted++
		p.updateLocked(ks)
		w.ch <- g
	}
	p.grantFreshLocked()

	if (p.nWaiting == 0 && len(p.held) == 0) || p.roomLocked() || p.nYoung == 0 {
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
		p.now = p.clock.Now()
		p.timer = nil
		p.dispatchLocked()
	})
}

// nextLocked returns the class whose waiter the policy picks next, or nil:
// the first in classBefore's order of the classes with waiters to grant
// that may take a slot (mayTake). Each weight's heap has its first class
// on top, so it looks at one class per weight.
func (p *pool) nextLocked() *classState {
	counted := p.countedLocked()
	if counted >= p.limit+p.headroom {
		return nil
	}
	inv := -1.0
	invWeights := func() float64 {
		if inv < 0 {
			inv = p.invWeightsLocked()
		}
		return inv
	}
	var next *classState
	for _, r := range p.ready {
		if r.classes.Len() == 0 {
			continue
		}
		cs := r.classes.Min()
		if !mayTake(cs, counted, p.limit, p.headroom, invWeights) {
			continue
		}
		if next == nil || classBefore(cs, next, cs.keys.Min().seq(), next.keys.Min().seq()) {
			next = cs
		}
	}
	return next
}

type poolSnapshot struct {
	used, young, eager, aged, waiting int
}

func (p *pool) snapshot() poolSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = p.clock.Now()
	p.ageLocked(p.now)
	s := poolSnapshot{used: p.used, young: p.nYoung, eager: p.eager, waiting: p.nWaiting + len(p.held)}
	for _, ks := range p.keys {
		s.aged += ks.aged
	}
	return s
}

// readyClasses are the pool's ready classes of one weight, by classBefore.
type readyClasses struct {
	weight  int
	classes heapx.Heap[*classState]
}

// readyClasses returns the heap of ready classes of weight w.
func (p *pool) readyClasses(w int) *heapx.Heap[*classState] {
	for _, r := range p.ready {
		if r.weight == w {
			return &r.classes
		}
	}
	r := &readyClasses{weight: w, classes: heapx.New(func(a, b *classState) bool {
		return classBefore(a, b, a.keys.Min().seq(), b.keys.Min().seq())
	}, func(cs *classState) *int { return &cs.index })}
	p.ready = append(p.ready, r)
	return &r.classes
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
