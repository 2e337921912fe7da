package ops

import (
	"math"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Pre-packed Winograd weights. A Conv keeps the transformed weights of its
// last call, per direction (forward, input gradient), so that a model's
// weights are transformed once rather than at every pass: for ResNet-18's
// 14×14 and 28×28 layers the transform costs 10–40 % of the convolution.
//
// The weights may change in place (the trainer updates them), so an entry
// is used only while a hash of the weights it was made from still matches:
// hashing reads each weight once, a small part of what transforming it
// costs. All Convs together keep at most wgPackMax floats; beyond that a
// convolution transforms its weights at every call, as before.
const wgPackMax = 24 << 20 // floats (96 MB)

var wgPackUsed atomic.Int64

type wgPackEntry struct {
	src    *float32 // the weights' first element
	n      int      // and their count
	tile   int
	geom   [3]int // G, M, C of the weights
	hash   uint64
	u      []float32
	cached bool // counted in wgPackUsed
}

// wgPack is a Conv's cache: [0] forward, [1] input gradient.
type wgPack struct {
	mu sync.Mutex
	e  [2]*wgPackEntry
}

// wgHash is a 64-bit FNV-1a-like hash of the weights' bits, two at a time.
func wgHash(w []float32) uint64 {
	h := uint64(14695981039346656037)
	i := 0
	for ; i+1 < len(w); i += 2 {
		v := uint64(math.Float32bits(w[i])) | uint64(math.Float32bits(w[i+1]))<<32
		h = (h ^ v) * 1099511628211
	}
	if i < len(w) {
		h = (h ^ uint64(math.Float32bits(w[i]))) * 1099511628211
	}
	return h ^ uint64(len(w))
}

// weights returns the transformed weights for a tile size and direction,
// from the cache when the weights are unchanged. release must be called
// when the caller is done with them.
func (pk *wgPack) weights(w []float32, groups, M, C, tile int, backward bool) (u []float32, release func()) {
	a := (tile + 2) * (tile + 2)
	n := groups * a * M * C
	dir := 0
	if backward {
		dir = 1
	}
	if pk == nil || len(w) == 0 {
		up := scratchGet(n)
		wgTransform(w, *up, groups, M, C, tile, backward)
		return *up, func() { scratchPut(up) }
	}
	h := wgHash(w)
	src := unsafe.SliceData(w)
	geom := [3]int{groups, M, C}
	pk.mu.Lock()
	e := pk.e[dir]
	pk.mu.Unlock()
	if e != nil && e.src == src && e.n == len(w) && e.tile == tile && e.geom == geom && e.hash == h {
		return e.u, func() {}
	}
	ne := &wgPackEntry{src: src, n: len(w), tile: tile, geom: geom, hash: h}
	if wgPackUsed.Add(int64(n)) <= wgPackMax {
		ne.u, ne.cached = make([]float32, n), true
	} else {
		wgPackUsed.Add(-int64(n))
		up := scratchGet(n)
		wgTransform(w, *up, groups, M, C, tile, backward)
		return *up, func() { scratchPut(up) }
	}
	wgTransform(w, ne.u, groups, M, C, tile, backward)
	pk.mu.Lock()
	old := pk.e[dir]
	pk.e[dir] = ne
	pk.mu.Unlock()
	if old != nil && old.cached {
		wgPackUsed.Add(-int64(len(old.u)))
	}
	return ne.u, func() {}
}

// wgTransform transforms the weights for a tile size (wgWeights, wg4Weights).
func wgTransform(w, u []float32, groups, M, C, tile int, backward bool) {
	if tile == 4 {
		wg4Weights(w, u, groups, M, C, backward)
	} else {
		wgWeights(w, u, groups, M, C, backward)
	}
}
