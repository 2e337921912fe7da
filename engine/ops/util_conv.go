package ops

import (
	"fmt"
	"sync"

	"github.com/cnnlens/cnnlens/engine/kernels"
)

// Shared helpers of the windowed ops (Conv, MaxPool, AveragePool): attribute
// parsing, output-size and padding rules, and scratch buffers.

// windowAttrs are the ONNX attributes that place a sliding window over the
// spatial axes. Slices are nil when the attribute is absent.
type windowAttrs struct {
	kernel    []int // kernel_shape
	strides   []int
	pads      []int // [x1_begin, x2_begin, ..., x1_end, x2_end, ...]
	dilations []int
	autoPad   string
	ceil      bool
}

// window copies the kernel shape and the strides, 1 where not given.
func (w *windowAttrs) window() (kernel, strides []int) {
	kernel = append([]int(nil), w.kernel...)
	strides = make([]int, len(kernel))
	for i := range strides {
		strides[i] = 1
		if i < len(w.strides) && w.strides[i] > 0 {
			strides[i] = w.strides[i]
		}
	}
	return kernel, strides
}

func winInts(v []int64) []int {
	if v == nil {
		return nil
	}
	out := make([]int, len(v))
	for k, x := range v {
		out[k] = int(x)
	}
	return out
}

func readWindowAttrs(a Attrs) (windowAttrs, error) {
	w := windowAttrs{
		kernel:    winInts(a.Ints("kernel_shape", nil)),
		strides:   winInts(a.Ints("strides", nil)),
		pads:      winInts(a.Ints("pads", nil)),
		dilations: winInts(a.Ints("dilations", nil)),
		autoPad:   a.String("auto_pad", "NOTSET"),
		ceil:      a.Int("ceil_mode", 0) != 0,
	}
	switch w.autoPad {
	case "", "NOTSET":
		w.autoPad = "NOTSET"
	case "SAME_UPPER", "SAME_LOWER", "VALID":
	default:
		return w, fmt.Errorf("unknown auto_pad %q", w.autoPad)
	}
	for _, s := range w.strides {
		if s <= 0 {
			return w, fmt.Errorf("strides %v must be positive", w.strides)
		}
	}
	for _, d := range w.dilations {
		if d <= 0 {
			return w, fmt.Errorf("dilations %v must be positive", w.dilations)
		}
	}
	for _, k := range w.kernel {
		if k <= 0 {
			return w, fmt.Errorf("kernel_shape %v must be positive", w.kernel)
		}
	}
	for _, p := range w.pads {
		if p < 0 {
			return w, fmt.Errorf("negative pads %v are not supported", w.pads)
		}
	}
	return w, nil
}

// geom2 is a resolved 2-D window placement over one H×W plane. 1-D ops are
// mapped onto it with H = KH = OutH = 1.
type geom2 struct {
	H, W             int
	KH, KW           int
	StrideH, StrideW int
	DilH, DilW       int
	PadT, PadL       int
	PadB, PadR       int
	OutH, OutW       int
}

func (g geom2) kernels(c int) kernels.ConvGeom {
	return kernels.ConvGeom{
		C: c, H: g.H, W: g.W, KH: g.KH, KW: g.KW,
		PadT: g.PadT, PadL: g.PadL,
		StrideH: g.StrideH, StrideW: g.StrideW,
		DilH: g.DilH, DilW: g.DilW,
		OutH: g.OutH, OutW: g.OutW,
	}
}

// pointwise reports whether the window is a plain 1×1, stride 1, unpadded
// one, where im2col would be the identity.
func (g geom2) pointwise() bool {
	return g.KH == 1 && g.KW == 1 && g.StrideH == 1 && g.StrideW == 1 &&
		g.PadT == 0 && g.PadL == 0 && g.PadB == 0 && g.PadR == 0 &&
		g.OutH == g.H && g.OutW == g.W
}

// axis resolves one spatial axis: given the input size, kernel size, stride,
// dilation and explicit pads, it returns the padding actually used and the
// output size, following the ONNX Conv/pooling rules.
func resolveAxis(in, k, s, d, pb, pe int, autoPad string, ceil bool) (padB, padE, out int, err error) {
	ek := (k-1)*d + 1 // effective (dilated) kernel extent
	switch autoPad {
	case "VALID":
		if in < ek {
			return 0, 0, 0, fmt.Errorf("input size %d smaller than kernel extent %d", in, ek)
		}
		return 0, 0, (in-ek)/s + 1, nil
	case "SAME_UPPER", "SAME_LOWER":
		out = (in + s - 1) / s
		total := (out-1)*s + ek - in
		if total < 0 {
			total = 0
		}
		if autoPad == "SAME_UPPER" {
			padB, padE = total/2, total-total/2
		} else {
			padB, padE = total-total/2, total/2
		}
		return padB, padE, out, nil
	}
	span := in + pb + pe - ek
	if span < 0 {
		return 0, 0, 0, fmt.Errorf("padded input size %d smaller than kernel extent %d", in+pb+pe, ek)
	}
	if ceil {
		out = (span+s-1)/s + 1
		// The last window must start inside the input or the leading padding.
		if (out-1)*s >= in+pb {
			out--
		}
	} else {
		out = span/s + 1
	}
	return pb, pe, out, nil
}

// resolve places the window over the spatial dims of an input (1 or 2 of
// them). kernel is the kernel size per spatial axis (from the attribute or
// the weights).
func (w windowAttrs) resolve(spatial, kernel []int) (geom2, error) {
	nd := len(spatial)
	if nd != 1 && nd != 2 {
		return geom2{}, fmt.Errorf("only 1-D and 2-D windows are supported, input has %d spatial dims", nd)
	}
	if len(kernel) != nd {
		return geom2{}, fmt.Errorf("kernel_shape %v does not match %d spatial dims", kernel, nd)
	}
	get := func(v []int, i, def int, name string) (int, error) {
		if v == nil {
			return def, nil
		}
		if len(v) != nd {
			return 0, fmt.Errorf("%s %v does not match %d spatial dims", name, v, nd)
		}
		return v[i], nil
	}
	if w.pads != nil && len(w.pads) != 2*nd {
		return geom2{}, fmt.Errorf("pads %v does not match %d spatial dims", w.pads, nd)
	}
	var ins, ks, ss, ds, pbs, pes, outs [2]int
	for i := 0; i < 2; i++ {
		ins[i], ks[i], ss[i], ds[i], outs[i] = 1, 1, 1, 1, 1
	}
	off := 2 - nd // 1-D goes in the W slot
	for i := 0; i < nd; i++ {
		var err error
		j := off + i
		ins[j], ks[j] = spatial[i], kernel[i]
		if ss[j], err = get(w.strides, i, 1, "strides"); err != nil {
			return geom2{}, err
		}
		if ds[j], err = get(w.dilations, i, 1, "dilations"); err != nil {
			return geom2{}, err
		}
		pb, pe := 0, 0
		if w.pads != nil {
			pb, pe = w.pads[i], w.pads[nd+i]
		}
		if pbs[j], pes[j], outs[j], err = resolveAxis(ins[j], ks[j], ss[j], ds[j], pb, pe, w.autoPad, w.ceil); err != nil {
			return geom2{}, err
		}
		if outs[j] <= 0 {
			return geom2{}, fmt.Errorf("empty output along spatial axis %d", i)
		}
	}
	return geom2{
		H: ins[0], W: ins[1], KH: ks[0], KW: ks[1],
		StrideH: ss[0], StrideW: ss[1], DilH: ds[0], DilW: ds[1],
		PadT: pbs[0], PadL: pbs[1], PadB: pes[0], PadR: pes[1],
		OutH: outs[0], OutW: outs[1],
	}, nil
}

// outShape is the N×C×spatial output shape of an input of rank 3 or 4.
func (g geom2) outShape(n, c, rank int) []int {
	if rank == 3 {
		return []int{n, c, g.OutW}
	}
	return []int{n, c, g.OutH, g.OutW}
}

// validRange returns the output positions [lo, hi) along one axis whose tap
// at kernel offset koff (already multiplied by the dilation) lands inside
// [0, in): o*stride - pad + koff in [0, in).
func validRange(out, in, stride, pad, koff int) (lo, hi int) {
	// lo = ceil((pad-koff)/stride), clamped at 0
	num := pad - koff
	if num > 0 {
		lo = (num + stride - 1) / stride
	}
	// hi-1 = floor((in-1+pad-koff)/stride)
	num = in - 1 + pad - koff
	if num < 0 {
		return 0, 0
	}
	hi = num/stride + 1
	if hi > out {
		hi = out
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// Scratch buffers (im2col columns) are recycled across calls so that a
// forward or backward pass does not hand the garbage collector megabytes per
// layer.
var scratchPool sync.Pool

// scratchGet returns a slice of n float32 with unspecified contents.
func scratchGet(n int) *[]float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok {
		if cap(*p) >= n {
			*p = (*p)[:n]
			return p
		}
		scratchPool.Put(p)
	}
	b := make([]float32, n)
	return &b
}

func scratchPut(p *[]float32) { scratchPool.Put(p) }

// im2colPar is kernels.Im2col with the rows of col (one per channel and
// kernel tap) split across goroutines (parallelFor).
func im2colPar(g kernels.ConvGeom, x, col []float32) {
	if g.StrideH <= 0 || g.StrideW <= 0 {
		kernels.Im2col(g, x, col)
		return
	}
	rows := g.C * g.KH * g.KW
	parallelFor(rows, float64(rows*g.OutH*g.OutW)*4, func(lo, hi int) {
		kernels.Im2colRows(g, x, col, lo, hi)
	})
}
