package ops

import (
	"sync"
	"unsafe"

	"github.com/cnnlens/cnnlens/engine/kernels"
)

// Pre-packed weights of the im2col/GEMM path. A Conv that multiplies by
// its weights as they are (not Winograd-transformed) keeps them packed for
// the GEMM's A (kernels.PackA, one matrix per group), like the Winograd
// weights (winograd_pack.go), with the same rules: an entry is used only
// while the hash of the weights it was made from (wgHash) still matches,
// and it counts against the same limit (wgPackMax), beyond which the
// convolution packs its weights at every call, as before. Checking the
// hash reads every weight once, about what packing them once costs, so
// Conv keeps them only where its GEMMs would pack them at least twice per
// call (kernels.PackCount); with ResNet-18's 36 MB of layer4 weights,
// keeping them for a single image's pass saved no CPU time.
//
// The input gradient's GEMMs multiply by the weights transposed; frozen
// weights are kept packed that way too (e[1]).
type convPack struct {
	mu   sync.Mutex
	e    [2]*wgPackEntry // tile 0: the weights as they are, pa[group]; transposed
	held *packHeld
}

// weights returns the weights packed per group (an Mg×kk matrix each, or
// its transpose when trans), from the cache when they are unchanged, or nil
// when they cannot be kept (the caller then uses kernels.SgemmConv or
// Sgemm, which pack them themselves). frozen: the weights never change
// (tensor.T.Frozen).
func (pk *convPack) weights(w []float32, frozen, trans bool, groups, mg, kk int) []*kernels.PackedA {
	if len(w) == 0 {
		return nil
	}
	geom := [3]int{groups, mg, kk}
	slot := 0
	if trans {
		slot = 1
	}
	pk.mu.Lock()
	e := pk.e[slot]
	pk.mu.Unlock()
	ok, h := e.matches(w, frozen, 0, geom)
	if ok {
		return e.pa
	}
	if wgPackUsed.Load()+int64(len(w)) > wgPackMax {
		packRefused.Add(1)
		return nil // would not be kept: let the GEMM pack them in its buffers
	}
	ne := &wgPackEntry{src: unsafe.SliceData(w), n: len(w), geom: geom, hash: h, frozen: frozen, pa: make([]*kernels.PackedA, groups)}
	for gi := range ne.pa {
		if trans {
			ne.pa[gi] = kernels.PackA(true, kk, mg, w[gi*mg*kk:], kk)
		} else {
			ne.pa[gi] = kernels.PackA(false, mg, kk, w[gi*mg*kk:], kk)
		}
		ne.size += ne.pa[gi].Floats()
	}
	if wgPackUsed.Add(int64(ne.size)) > wgPackMax {
		wgPackUsed.Add(-int64(ne.size))
		packRefused.Add(1)
		return ne.pa // used once, not kept
	}
	pk.mu.Lock()
	old := pk.e[slot]
	pk.e[slot] = ne
	oldSize := 0
	if old != nil {
		oldSize = old.size
	}
	packKeep(&pk.held, pk, ne.size, oldSize)
	pk.mu.Unlock()
	return ne.pa
}
