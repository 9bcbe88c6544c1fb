package workers

// The policy: who gets the next free slot of a pool, and what may start
// past the limit. It is all here, in six short functions; the mechanism
// (pool.go) keeps the counts they read and re-sorts its queues whenever
// one of those counts changes, so each grant costs O(log n) in the number
// of classes and queues.
//
// The inputs, kept by the mechanism:
//
//   - a class's weight (from its [Class], at least 1) and counted: its
//     tasks running, young polls (polls under way for less than the
//     idle-poll time) and eager slots (tasks on their way);
//   - a key's (one task queue and kind of task) running, eager slots and
//     polls out;
//   - the pool's count (tasks running, young polls, eager slots), limit
//     and headroom;
//   - seq, the arrival order of a key's oldest waiting poll.
//
// The rule: the next slot goes to the class with the least load,
// (counted + 1) × weight (the + 1 makes the weight count for an idle class
// too: an overflow class of weight 4 with nothing running goes after a kind
// with 2 running), then to the oldest waiter; within the class, to the key
// with the fewest tasks running and polls out, then the oldest waiter. So
// classes share contested capacity by weight whatever their number of
// queues, and every grant raises its class's and key's count, so every
// waiting queue's turn comes. Once the limit is full, only a class under
// its fair share may take a slot of the headroom (underShare, mayTake),
// and a task from an uncounted poll also if its queue has nothing running
// (mayStart); a task that may not start waits in the worker, so nothing
// runs past limit + headroom.
//
// A policy may read only these inputs: the mechanism re-sorts on their
// changes and on nothing else. It keeps one heap of classes per weight, so
// among classes of one weight the first in classBefore's order must be
// under its share if any is (both must grow with counted).

// classBefore reports whether a waiter of class a goes before one of class
// b; aSeq and bSeq are the arrival order of the classes' first waiters.
func classBefore(a, b *classState, aSeq, bSeq uint64) bool {
	if la, lb := (a.counted+1)*a.weight, (b.counted+1)*b.weight; la != lb {
		return la < lb
	}
	return aSeq < bSeq
}

// keyBefore reports whether a waiter of key a goes before one of key b of
// the same class.
func keyBefore(a, b *keyState) bool {
	if la, lb := a.running+a.polls, b.running+b.polls; la != lb {
		return la < lb
	}
	return a.seq() < b.seq()
}

// underShare reports whether class cs is under its fair share of limit:
// limit × (1/weight) / invWeights, where invWeights is the sum of 1/weight
// over the active classes (those with tasks running, young polls, or
// waiters the pool may grant). Once the limit is full, only a class under
// its share may take a slot of the headroom.
func underShare(cs *classState, limit int, invWeights float64) bool {
	return float64(cs.counted*cs.weight)*invWeights < float64(limit)
}

// mayTake reports whether a poll of class cs may take one more slot,
// counted being the pool's tasks running, young polls and eager slots:
// while counted is under limit any class may; up to limit + headroom only
// a class under its share (inv() is invWeights, computed only when
// needed).
func mayTake(cs *classState, counted, limit, headroom int, inv func() float64) bool {
	return counted < limit || (counted < limit+headroom && underShare(cs, limit, inv()))
}

// mayStart reports whether a task that an uncounted poll brought to key ks
// may start now; if not, it waits in the worker. It may where a poll of
// its class may take a slot (mayTake), and also, up to limit + headroom,
// when its queue has nothing running and no eager task on its way: an idle
// queue's first task starts at once even if its kind is over its share (a quiet tenant's shard, when
// the flood is on another shard of the same kind). So a budget never runs
// more than limit + headroom, and W budgets never more than their limits
// and headrooms in all, however many idle queues each polls.
func mayStart(ks *keyState, counted, limit, headroom int, inv func() float64) bool {
	return mayTake(ks.class, counted, limit, headroom, inv) || (ks.running == 0 && ks.eager == 0 && counted < limit+headroom)
}

// mayEager reports whether an eager slot may be granted now, counted being
// the pool's tasks running, young polls and eager slots: under the limit
// while no task is held (held tasks go first), and, up to limit +
// headroom and whether tasks are held or not, when its key has a light
// token (light: a workflow of this process scheduled the activity for a
// fairness key with nothing running on its queue here; pool rule 6). So a
// quiet tenant whose shard a flood fills starts its activity at once, as
// an idle queue's first task does (mayStart), and eager slots never go
// past limit + headroom. A held task waits for the count to fall under
// the limit, which one light task in the headroom delays by one task's end.
func mayEager(counted, limit, headroom int, held, light bool) bool {
	if light {
		return counted < limit+headroom
	}
	return !held && counted < limit
}
