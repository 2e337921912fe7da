package graph

import (
	"sync"
	"unsafe"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Recycled buffers of forward passes that keep no tape (Options.NoTape).
//
// Such a pass already drops each intermediate value after its last
// consumer. When the value's storage was handed out by the pass itself (an
// op's output taken from the free list through ops.BufForwarder) and no
// value still held by the run shares any of it (Reshape, Flatten, Identity
// and slices return views), the storage goes back to the graph's free list,
// keyed by its length, and a later node, or a later pass, takes it instead
// of allocating and clearing a new one. Never recycled: graph inputs and
// outputs, the values in Options.Keep, constants, shape-derived values
// (cached across passes), anything a caller's Override sees (passes with an
// Override take nothing from the list), and every value of a pass with a
// tape (Backward reads them).

// maxFreeFloats bounds the floats the free list keeps between passes
// (64 MB): above it, released buffers are left to the garbage collector.
const maxFreeFloats = 16 << 20

// freeList is a graph's buffers kept for reuse, by length.
type freeList struct {
	mu     sync.Mutex
	bySize map[int][][]float32
	floats int
}

func (f *freeList) get(n int) []float32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.bySize[n]
	if len(l) == 0 {
		return nil
	}
	b := l[len(l)-1]
	l[len(l)-1] = nil
	f.bySize[n] = l[:len(l)-1]
	f.floats -= n
	return b
}

func (f *freeList) put(b []float32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.floats+len(b) > maxFreeFloats {
		return
	}
	if f.bySize == nil {
		f.bySize = map[int][][]float32{}
	}
	f.bySize[len(b)] = append(f.bySize[len(b)], b)
	f.floats += len(b)
}

// runBufs is one pass's ops.Bufs: it remembers which buffers it handed out.
type runBufs struct {
	free  *freeList
	owned map[*float32][]float32 // first element → the whole buffer
}

// Floats implements ops.Bufs: a recycled buffer (not cleared) or a new one.
func (rb *runBufs) Floats(n int) []float32 {
	b := rb.free.get(n)
	if b == nil {
		b = make([]float32, n)
	}
	if n > 0 {
		rb.owned[unsafe.SliceData(b)] = b
	}
	return b
}

// release recycles v's storage if this pass handed it out and no value in
// live (nor any shape-derived value kept across passes) overlaps it.
func (rb *runBufs) release(v *tensor.T, live, folded map[string]*tensor.T) {
	if v == nil || v.DType() != tensor.Float32 || v.Len() == 0 {
		return
	}
	p := unsafe.SliceData(v.F32())
	b, ok := rb.owned[p]
	if !ok || len(v.F32()) != len(b) {
		return
	}
	for _, m := range []map[string]*tensor.T{live, folded} {
		for _, w := range m {
			if overlaps(b, w) {
				return
			}
		}
	}
	delete(rb.owned, p)
	rb.free.put(b)
}

// overlaps reports whether w's float32 storage shares memory with b.
func overlaps(b []float32, w *tensor.T) bool {
	if w == nil || len(w.F32()) == 0 {
		return false
	}
	const sz = unsafe.Sizeof(float32(0))
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	w0 := uintptr(unsafe.Pointer(unsafe.SliceData(w.F32())))
	return w0 < b0+uintptr(len(b))*sz && b0 < w0+uintptr(len(w.F32()))*sz
}
