package ops

import (
	"math"
	"math/rand"
	"runtime"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// TestParallelBitIdentical runs ops whose work parallelFor splits across
// goroutines (natively) on one thread and on several, and requires
// bit-for-bit equal outputs: the split changes which goroutine computes an
// output, never its arithmetic. The shapes are ResNet-18's and large enough
// to be split.
func TestParallelBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	x56 := randT(rng, -1, 1, 1, 64, 56, 56)
	cases := []struct {
		name  string
		op    string
		attrs MapAttrs
		in    []*tensor.T
	}{
		{"conv_k7s2_im2col", "Conv", MapAttrs{"kernel_shape": []int64{7, 7}, "strides": []int64{2, 2}, "pads": []int64{3, 3, 3, 3}},
			[]*tensor.T{randT(rng, -1, 1, 1, 3, 224, 224), randT(rng, -1, 1, 64, 3, 7, 7), randT(rng, -1, 1, 64)}},
		{"conv_k3s2_im2col", "Conv", MapAttrs{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}},
			[]*tensor.T{x56, randT(rng, -1, 1, 128, 64, 3, 3), randT(rng, -1, 1, 128)}},
		{"conv_k3_winograd", "Conv", MapAttrs{"kernel_shape": []int64{3, 3}, "pads": []int64{1, 1, 1, 1}},
			[]*tensor.T{x56, randT(rng, -1, 1, 64, 64, 3, 3), randT(rng, -1, 1, 64)}},
		{"batchnorm", "BatchNormalization", MapAttrs{"epsilon": float32(1e-5)},
			[]*tensor.T{x56, randT(rng, 0.5, 2, 64), randT(rng, -1, 1, 64), randT(rng, -1, 1, 64), randT(rng, 0.5, 2, 64)}},
		{"maxpool_k3s2", "MaxPool", MapAttrs{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}},
			[]*tensor.T{randT(rng, -1, 1, 1, 64, 112, 112)}},
		{"relu", "Relu", MapAttrs{}, []*tensor.T{randT(rng, -1, 1, 1, 64, 112, 113)}},
	}
	run := func(t *testing.T, procs int, op Op, in []*tensor.T) []*tensor.T {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		out, err := op.Forward(in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op, err := New(c.op, c.attrs, 15)
			if err != nil {
				t.Fatal(err)
			}
			want := run(t, 1, op, c.in)
			got := run(t, 4, op, c.in)
			if len(got) != len(want) {
				t.Fatalf("%d outputs, want %d", len(got), len(want))
			}
			for o := range want {
				if want[o].DType() == tensor.Int64 {
					for i, v := range want[o].I64() {
						if g := got[o].I64()[i]; g != v {
							t.Fatalf("output %d [%d] = %d on 4 threads, %d on 1", o, i, g, v)
						}
					}
					continue
				}
				w, g := want[o].F32(), got[o].F32()
				if len(w) == 0 || len(g) != len(w) {
					t.Fatalf("output %d: %d values, want %d (non-empty)", o, len(g), len(w))
				}
				for i := range w {
					if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
						t.Fatalf("output %d [%d] = %v on 4 threads, %v on 1", o, i, g[i], w[i])
					}
				}
			}
		})
	}
}

// TestWgHashParallel checks that the weight hash, computed block by block
// on several goroutines, is the same on one thread and on several, and
// changes with any one weight (first block, middle, last partial block).
func TestWgHashParallel(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	w := randT(rng, -1, 1, 3*wgHashBlock+17).F32()
	hash := func(procs int) uint64 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		return wgHash(w)
	}
	h1, h4 := hash(1), hash(4)
	if h1 != h4 {
		t.Fatalf("hash %x on 4 threads, %x on 1", h4, h1)
	}
	for _, i := range []int{0, 2*wgHashBlock + 5, len(w) - 1} {
		old := w[i]
		w[i] = math.Nextafter32(old, 2)
		if h := hash(4); h == h1 {
			t.Errorf("changing weight %d left the hash at %x", i, h)
		}
		w[i] = old
	}
	if h := hash(4); h != h1 {
		t.Fatalf("hash %x after restoring the weights, want %x", h, h1)
	}
	// A view starting at an odd element (not 8-byte aligned) and of odd
	// length: every weight counts, the first and last ones too.
	v := w[1 : len(w)-2]
	hv := wgHash(v)
	for _, i := range []int{0, 1, len(v) - 1} {
		old := v[i]
		v[i] = math.Nextafter32(old, 2)
		if h := wgHash(v); h == hv {
			t.Errorf("changing weight %d of an unaligned view left the hash at %x", i, h)
		}
		v[i] = old
	}
}
