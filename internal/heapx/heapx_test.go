package heapx

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

type item struct {
	key, index int
}

func newHeap() Heap[*item] {
	return New(func(a, b *item) bool { return a.key < b.key }, func(x *item) *int { return &x.index })
}

// check holds the heap property and every element's index.
func check(t *testing.T, h *Heap[*item]) {
	t.Helper()
	for i, x := range h.items {
		require.Equal(t, i, x.index, "index of the element at %d", i)
		if i > 0 {
			require.False(t, h.less(x, h.items[(i-1)/2]), "element %d is less than its parent", i)
		}
	}
}

// TestHeapAgainstASortedSlice: random pushes, key changes, removals and Set
// calls keep the heap property, every element's index, and the same least
// key as a plain slice of the same elements.
func TestHeapAgainstASortedSlice(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := newHeap()
	all := make([]*item, 64)
	for i := range all {
		all[i] = &item{key: r.IntN(100), index: -1}
	}
	for range 20000 {
		x := all[r.IntN(len(all))]
		switch op := r.IntN(4); {
		case op == 0 && x.index < 0:
			h.Push(x)
		case op == 1 && x.index >= 0:
			x.key = r.IntN(100)
			h.Fix(x)
		case op == 2 && x.index >= 0:
			h.Remove(x)
			require.Equal(t, -1, x.index)
		case op == 3:
			if x.index >= 0 {
				x.key = r.IntN(100)
			}
			h.Set(x, r.IntN(2) == 0)
		}
		check(t, &h)
		var in []int
		for _, y := range all {
			if y.index >= 0 {
				in = append(in, y.key)
			}
		}
		require.Equal(t, len(in), h.Len())
		if len(in) > 0 {
			require.Equal(t, slices.Min(in), h.Min().key)
		}
	}
}

func TestHeapPopsInOrder(t *testing.T) {
	h := newHeap()
	for _, k := range []int{5, 3, 9, 1, 7, 3} {
		h.Push(&item{key: k, index: -1})
	}
	var got []int
	for h.Len() > 0 {
		x := h.Min()
		h.Remove(x)
		got = append(got, x.key)
	}
	require.Equal(t, []int{1, 3, 3, 5, 7, 9}, got)
}
