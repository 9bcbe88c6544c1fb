// Package heapx is a binary min-heap whose elements keep their own place in
// it, so that an element whose key changed can be moved, and any element
// removed, in O(log n): the one heap behind the hot-tenant detector's
// least-counted tenants and the worker budget's ready queues and classes.
package heapx

// Heap is a min-heap of T ordered by less. Each element keeps its index in
// the heap in the int that at returns for it: -1 when it is not in the
// heap, which every element must start with. Make one with [New]; it is not
// safe for concurrent use.
type Heap[T any] struct {
	items []T
	less  func(a, b T) bool
	at    func(T) *int
}

// New returns an empty heap ordered by less, whose elements keep their
// index in *at(x).
func New[T any](less func(a, b T) bool, at func(T) *int) Heap[T] {
	return Heap[T]{less: less, at: at}
}

// Len returns the number of elements in h.
func (h *Heap[T]) Len() int { return len(h.items) }

// Min returns the least element of h, which must not be empty.
func (h *Heap[T]) Min() T { return h.items[0] }

// Set puts x in h if in, at its place for its key now (it may have changed
// since x was put there), and takes it out of h if not in.
func (h *Heap[T]) Set(x T, in bool) {
	switch i := *h.at(x); {
	case in && i < 0:
		h.Push(x)
	case in:
		h.fix(i)
	case i >= 0:
		h.remove(i)
	}
}

// Push adds x, which must not be in h.
func (h *Heap[T]) Push(x T) {
	*h.at(x) = len(h.items)
	h.items = append(h.items, x)
	h.up(len(h.items) - 1)
}

// Fix restores x's place in h after its key changed; x must be in h.
func (h *Heap[T]) Fix(x T) { h.fix(*h.at(x)) }

// Remove takes x, which must be in h, out of h.
func (h *Heap[T]) Remove(x T) { h.remove(*h.at(x)) }

func (h *Heap[T]) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *Heap[T]) remove(i int) {
	n := len(h.items) - 1
	if i != n {
		h.swap(i, n)
	}
	x := h.items[n]
	var zero T
	h.items[n] = zero
	h.items = h.items[:n]
	*h.at(x) = -1
	if i != n {
		h.fix(i)
	}
}

func (h *Heap[T]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.at(h.items[i]), *h.at(h.items[j]) = i, j
}

func (h *Heap[T]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2 // parent
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

// down moves the element at i0 down to its place; it reports whether it
// moved.
func (h *Heap[T]) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		if r := j + 1; r < n && h.less(h.items[r], h.items[j]) {
			j = r
		}
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
