package ops

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cnnlens/cnnlens/engine/kernels"
)

// Pre-packed Winograd weights. A Conv keeps the transformed weights of its
// last call, per direction (forward, input gradient), so that a model's
// weights are transformed once rather than at every pass: for ResNet-18's
// 14×14 and 28×28 layers the transform costs 10–40 % of the convolution.
// They are kept packed for the GEMM (kernels.PackA, one matrix per group
// and tile position), so the GEMMs do not pack them again at every chunk of
// tiles: with the amd64 AVX2 kernel, packing them took 40 % as long as the
// multiplications themselves in a ResNet-18 forward pass.
//
// The weights may change in place (the trainer updates them), so an entry
// is used only while a hash of the weights it was made from still matches:
// hashing reads each weight once, a small part of what transforming it
// costs. Frozen weights (tensor.T.Freeze: a loaded model's) never change,
// so their entries are used without hashing them: the hash was 7 % of a
// native ResNet-18 forward pass (46 MB read) and 2 % in wasm. All Convs
// together keep at most wgPackMax floats; beyond that a convolution
// transforms its weights at every call, as before. ResNet-18 with both tiers
// and input gradients keeps 314 MB (TestPackHoldsResNet18: the fast tier's
// 162 MB, F(4×4) forward weights for the most part; the reference tier's
// F(2×2) forward weights, the input gradients' and the im2col layers'
// packed weights the rest).
const wgPackMax = 80 << 20 // floats (320 MB)

var wgPackUsed atomic.Int64

// packRefused counts the transformed or packed weights made but not kept
// (wgPackMax reached): each such convolution redoes them at every call.
var packRefused atomic.Int64

// PackStats reports the bytes of transformed and packed weights the
// process's convolutions keep, and how many times weights were made but not
// kept because the cache was full.
func PackStats() (bytes, refused int64) { return 4 * wgPackUsed.Load(), packRefused.Load() }

// packHeld is what one cache (a Conv's wgPack or convPack) keeps counted in
// wgPackUsed. When the cache's Conv is collected (a model dropped: the page
// loads another), a cleanup gives it back, so that the next model's
// convolutions can keep theirs: without it, a process that loaded models
// one after another ran the later ones at the speed of no cache at all
// (TestPackReleasedWithModel).
type packHeld struct{ n atomic.Int64 }

// packKeep counts size floats kept by the cache at owner (its *wgPack or
// *convPack), making its packHeld on first use, and size of old released.
func packKeep[T any](held **packHeld, owner *T, size, old int) {
	if *held == nil {
		h := &packHeld{}
		runtime.AddCleanup(owner, func(h *packHeld) { wgPackUsed.Add(-h.n.Load()) }, h)
		*held = h
	}
	(*held).n.Add(int64(size - old))
	wgPackUsed.Add(-int64(old))
}

type wgPackEntry struct {
	src  *float32 // the weights' first element
	n    int      // and their count
	tile int
	geom [3]int // G, M, C of the weights
	hash uint64 // of the weights, unless frozen
	// frozen: made from frozen weights, used without hashing them.
	frozen bool
	pa     []*kernels.PackedA // [G][positions]
	size   int                // floats, counted in wgPackUsed
}

// wgPack is a Conv's cache, by wgPackSlot: forward and input gradient,
// each for F(2×2) and F(4×4) (a forward pass takes either, by its tier),
// and for the F(3×3, 4×4) of a 7×7 stride-2 convolution (winograd34.go).
type wgPack struct {
	mu   sync.Mutex
	e    [6]*wgPackEntry
	held *packHeld
}

// wgPackSlot is the cache entry for a direction and tile size.
func wgPackSlot(backward bool, tile int) int {
	i := 0
	if backward {
		i = 1
	}
	switch tile {
	case 4:
		i += 2
	case 3:
		i += 4
	}
	return i
}

// wgHash is a 64-bit FNV-1a-like hash of the weights' bits: of each block
// of wgHashBlock values in four independent lanes of two values each (one
// lane's multiply chain ran at a third of the memory's speed), then of the
// blocks' hashes.
func wgHash(w []float32) uint64 {
	wgHashes.Add(1)
	// Blocks of wgHashBlock values are hashed separately (in parallel,
	// natively), then their hashes in order: the same value however many
	// goroutines computed it.
	if len(w) <= wgHashBlock {
		return wgHashLanes(w)
	}
	nb := (len(w) + wgHashBlock - 1) / wgHashBlock
	hs := make([]uint64, nb)
	parallelFor(nb, float64(len(w)), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			hs[b] = wgHashLanes(w[b*wgHashBlock : min((b+1)*wgHashBlock, len(w))])
		}
	})
	const prime = 1099511628211
	r := uint64(14695981039346656037)
	for _, h := range hs {
		r = (r ^ h) * prime
	}
	return r ^ uint64(len(w))
}

// wgHashes counts wgHash's calls (for tests).
var wgHashes atomic.Int64

// wgHashBlock is the number of weights wgHash hashes in one piece.
const wgHashBlock = 1 << 16

// wgHashLanes hashes one block in eight lanes, combined at the end: each
// lane takes two weights (one 64-bit word) per multiply, so the loop is 8
// loads, xors and multiplies per 16 weights (2.5× as fast as four lanes of
// two 32-bit loads joined by a shift and an or).
func wgHashLanes(w []float32) uint64 {
	const prime = 1099511628211
	h := [8]uint64{14695981039346656037, 0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f, 0x165667b19e3779f9,
		0x27d4eb2f165667c5, 0x85ebca77c2b2ae63, 0xff51afd7ed558ccd, 0xc4ceb9fe1a85ec53}
	if len(w) > 0 && uintptr(unsafe.Pointer(&w[0]))%8 != 0 {
		h[7] = (h[7] ^ uint64(math.Float32bits(w[0]))) * prime // align the words
		w = w[1:]
	}
	nw := len(w) / 2
	if nw > 0 {
		u := unsafe.Slice((*uint64)(unsafe.Pointer(&w[0])), nw)
		h0, h1, h2, h3, h4, h5, h6, h7 := h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
		i := 0
		for ; i+8 <= len(u); i += 8 {
			x := (*[8]uint64)(u[i : i+8])
			h0 = (h0 ^ x[0]) * prime
			h1 = (h1 ^ x[1]) * prime
			h2 = (h2 ^ x[2]) * prime
			h3 = (h3 ^ x[3]) * prime
			h4 = (h4 ^ x[4]) * prime
			h5 = (h5 ^ x[5]) * prime
			h6 = (h6 ^ x[6]) * prime
			h7 = (h7 ^ x[7]) * prime
		}
		for ; i < len(u); i++ {
			h0 = (h0 ^ u[i]) * prime
		}
		h = [8]uint64{h0, h1, h2, h3, h4, h5, h6, h7}
	}
	if len(w)%2 == 1 {
		h[1] = (h[1] ^ uint64(math.Float32bits(w[len(w)-1]))) * prime
	}
	r := h[0]
	for _, v := range h[1:] {
		r = (r ^ v) * prime
	}
	return r ^ uint64(len(w))
}

// matches reports whether e was made from the weights w (the same storage
// and, unless they are frozen, the same hash), returning the hash it
// computed (0 for frozen weights, which are not hashed).
func (e *wgPackEntry) matches(w []float32, frozen bool, tile int, geom [3]int) (bool, uint64) {
	if frozen {
		return e != nil && e.frozen && e.src == unsafe.SliceData(w) && e.n == len(w) && e.tile == tile && e.geom == geom, 0
	}
	h := wgHash(w)
	return e != nil && !e.frozen && e.src == unsafe.SliceData(w) && e.n == len(w) && e.tile == tile && e.geom == geom && e.hash == h, h
}

// weights returns the transformed weights for a tile size and direction:
// packed (pa, one matrix per group and position), from the cache when the
// weights are unchanged, or else as plain matrices u when pk is nil.
// frozen: the weights never change (tensor.T.Frozen). release must be
// called when the caller is done with them.
func (pk *wgPack) weights(w []float32, frozen bool, groups, M, C, tile int, backward bool) (u []float32, pa []*kernels.PackedA, release func()) {
	a := wgWindow(tile) * wgWindow(tile)
	n := groups * a * M * C
	dir := wgPackSlot(backward, tile)
	if pk == nil || len(w) == 0 {
		up := scratchGet(n)
		wgTransform(w, *up, groups, M, C, tile, backward)
		return *up, nil, func() { scratchPut(up) }
	}
	geom := [3]int{groups, M, C}
	pk.mu.Lock()
	e := pk.e[dir]
	pk.mu.Unlock()
	ok, h := e.matches(w, frozen, tile, geom)
	if ok {
		return nil, e.pa, func() {}
	}
	up := scratchGet(n)
	defer scratchPut(up)
	wgTransform(w, *up, groups, M, C, tile, backward)
	rows, cols := M, C // of each transformed matrix
	if backward {
		rows, cols = C, M
	}
	ne := &wgPackEntry{src: unsafe.SliceData(w), n: len(w), tile: tile, geom: geom, hash: h, frozen: frozen, pa: make([]*kernels.PackedA, groups*a)}
	for i := range ne.pa {
		ne.pa[i] = kernels.PackA(false, rows, cols, (*up)[i*rows*cols:], cols)
		ne.size += ne.pa[i].Floats()
	}
	if wgPackUsed.Add(int64(ne.size)) > wgPackMax {
		wgPackUsed.Add(-int64(ne.size))
		packRefused.Add(1)
		return nil, ne.pa, func() {} // used once, not kept
	}
	pk.mu.Lock()
	old := pk.e[dir]
	pk.e[dir] = ne
	oldSize := 0
	if old != nil {
		oldSize = old.size
	}
	packKeep(&pk.held, pk, ne.size, oldSize)
	pk.mu.Unlock()
	return nil, ne.pa, func() {}
}

// wgTransform transforms the weights for a tile size (wgWeights, wg4Weights;
// tile 3: wg34Weights, where C counts the space-to-depth channels).
func wgTransform(w, u []float32, groups, M, C, tile int, backward bool) {
	switch tile {
	case 4:
		wg4Weights(w, u, groups, M, C, backward)
	case 3:
		wg34Weights(w, u, M, C/4, backward)
	default:
		wgWeights(w, u, groups, M, C, backward)
	}
}
