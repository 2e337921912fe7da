package ops

import (
	"fmt"
	"slices"

	"github.com/cnnlens/cnnlens/engine/kernels"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("Conv", func(a Attrs, opset int) (Op, error) {
		w, err := readWindowAttrs(a)
		if err != nil {
			return nil, fmt.Errorf("Conv: %w", err)
		}
		g := int(a.Int("group", 1))
		if g <= 0 {
			return nil, fmt.Errorf("Conv: group %d must be positive", g)
		}
		return &Conv{win: w, Group: g}, nil
	})
}

// Conv is the ONNX Conv operator over 2-D (N×C×H×W) or 1-D (N×C×L) inputs:
// inputs X, W (M × C/group × kH × kW) and an optional bias B (M); attributes
// kernel_shape, strides, pads, dilations, group and auto_pad.
//
// Grouped convolutions run one im2col + Sgemm per image and group (im2col is
// skipped for 1×1 stride-1 unpadded kernels); depthwise ones (group == C > 1)
// use a direct loop.
type Conv struct {
	win   windowAttrs
	Group int
	pack  wgPack   // transformed weights of the Winograd path
	gemm  convPack // packed weights of the im2col/GEMM path
}

func (*Conv) Type() string { return "Conv" }

// convPlan is one Conv call's resolved shapes.
type convPlan struct {
	g              geom2
	N, C, M        int // batch, input channels, output channels
	G, Cg, Mg      int // groups, input and output channels per group
	kk             int // Cg·KH·KW, the im2col rows
	hw, ohw        int // input and output plane sizes
	depthwise      bool
	rank           int
	xShape, wShape []int
}

func (op *Conv) plan(in []*tensor.T) (*convPlan, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("Conv needs inputs X and W")
	}
	x, w := in[0], in[1]
	if x.DType() != tensor.Float32 || w.DType() != tensor.Float32 {
		return nil, fmt.Errorf("Conv supports float32 only")
	}
	var bias []int
	if len(in) > 2 && in[2] != nil {
		if in[2].DType() != tensor.Float32 {
			return nil, fmt.Errorf("Conv: bias has shape %s, want %d", tensor.ShapeString(in[2].Shape()), w.Shape()[0])
		}
		bias = in[2].Shape()
	}
	return op.planShapes(x.Shape(), w.Shape(), bias)
}

// planShapes resolves a Conv from the shapes of X, W and the bias (nil
// when there is none): the checks and sizes that both a run and shape
// inference (OutShapes) use.
func (op *Conv) planShapes(xs, ws, bias []int) (*convPlan, error) {
	if len(xs) != 3 && len(xs) != 4 {
		return nil, fmt.Errorf("Conv: X has shape %s; only 1-D and 2-D convolutions are supported", tensor.ShapeString(xs))
	}
	if len(ws) != len(xs) {
		return nil, fmt.Errorf("Conv: W shape %s does not match X shape %s", tensor.ShapeString(ws), tensor.ShapeString(xs))
	}
	p := &convPlan{N: xs[0], C: xs[1], M: ws[0], G: op.Group, Cg: ws[1], rank: len(xs), xShape: xs, wShape: ws}
	if p.G <= 0 || p.Cg*p.G != p.C {
		return nil, fmt.Errorf("Conv: X has %d channels, W expects %d×%d groups", p.C, p.Cg, p.G)
	}
	if p.M%p.G != 0 {
		return nil, fmt.Errorf("Conv: %d output channels not divisible by group %d", p.M, p.G)
	}
	p.Mg = p.M / p.G
	kernel := ws[2:]
	if op.win.kernel != nil && !slices.Equal(op.win.kernel, kernel) {
		return nil, fmt.Errorf("Conv: kernel_shape %v does not match W shape %s", op.win.kernel, tensor.ShapeString(ws))
	}
	g, err := op.win.resolve(xs[2:], kernel)
	if err != nil {
		return nil, fmt.Errorf("Conv: %w", err)
	}
	p.g = g
	p.kk = p.Cg * g.KH * g.KW
	p.hw = g.H * g.W
	p.ohw = g.OutH * g.OutW
	p.depthwise = p.G > 1 && p.G == p.C
	if bias != nil && tensor.Size(bias) != p.M {
		return nil, fmt.Errorf("Conv: bias has shape %s, want %d", tensor.ShapeString(bias), p.M)
	}
	return p, nil
}

func (op *Conv) Forward(in []*tensor.T) ([]*tensor.T, error) { return op.ForwardBufs(in, nil) }

// ForwardBufs is Forward with the output taken from bufs (BufForwarder).
// The bias, or else zeros, is written first where the paths accumulate
// (depthwise, Winograd); the GEMM path overwrites the output (beta 0).
func (op *Conv) ForwardBufs(in []*tensor.T, bufs Bufs) ([]*tensor.T, error) {
	p, err := op.plan(in)
	if err != nil {
		return nil, err
	}
	y := newOut(bufs, p.g.outShape(p.N, p.M, p.rank)...)
	x, w, yf := in[0].F32(), in[1].F32(), y.F32()
	hasBias := len(in) > 2 && in[2] != nil
	stem := !p.depthwise && p.useStemForward()
	wino := !p.depthwise && !stem && p.useWinogradForward()
	if bufs != nil && !hasBias && (p.depthwise || wino || stem) {
		parallelFor(p.N*p.M, float64(len(yf)), func(lo, hi int) {
			clear(yf[lo*p.ohw : hi*p.ohw])
		})
	}
	if hasBias {
		b := in[2].F32()
		parallelFor(p.M, float64(p.N*p.M*p.ohw)*2, func(lo, hi int) {
			for n := 0; n < p.N; n++ {
				for m := lo; m < hi; m++ {
					fillF32(yf[(n*p.M+m)*p.ohw:][:p.ohw], b[m])
				}
			}
		})
	}
	if p.depthwise {
		depthwiseForward(p, x, w, yf)
		return []*tensor.T{y}, nil
	}
	if wino {
		winogradForward(p, &op.pack, x, w, yf, in[1].Frozen())
		return []*tensor.T{y}, nil
	}
	if stem {
		stemForward(p, &op.pack, x, w, yf, in[1].Frozen())
		return []*tensor.T{y}, nil
	}
	beta := float32(0)
	if hasBias {
		beta = 1
	}
	pw := p.g.pointwise()
	// With at least 2 rows and 2 columns (SgemmPacked's and SgemmConv's sums
	// are then Sgemm's), the im2col matrix is never made: SgemmConv packs
	// its panels straight from the image. The weights are kept packed when
	// the GEMMs would pack them at least twice per call (per image, per
	// block of columns, per goroutine): checking that they are unchanged
	// reads them once (wgHash), about what packing them once costs. Frozen
	// weights (a loaded model's) are not checked, so they are always kept.
	gemm := p.Mg >= 2 && p.ohw >= 2
	frozen := in[1].Frozen()
	var pa []*kernels.PackedA
	if packs := p.N * kernels.PackCount(p.Mg, p.ohw, p.kk); gemm && (packs >= 2 || frozen && packs >= 1) {
		pa = op.gemm.weights(w, frozen, false, p.G, p.Mg, p.kk)
	}
	var colp *[]float32
	if !pw && !gemm {
		colp = scratchGet(p.kk * p.ohw)
		defer scratchPut(colp)
	}
	kg := p.g.kernels(p.Cg)
	for n := 0; n < p.N; n++ {
		for gi := 0; gi < p.G; gi++ {
			xg := x[(n*p.C+gi*p.Cg)*p.hw:][:p.Cg*p.hw]
			yg := yf[(n*p.M+gi*p.Mg)*p.ohw:][:p.Mg*p.ohw]
			wg := w[gi*p.Mg*p.kk:][:p.Mg*p.kk]
			switch {
			case pa != nil && pw:
				kernels.SgemmPacked(pa[gi], false, p.ohw, 1, xg, p.ohw, beta, yg, p.ohw)
			case pa != nil:
				kernels.SgemmPackedConv(pa[gi], kg, xg, 1, beta, yg, p.ohw)
			case gemm && !pw:
				kernels.SgemmConv(false, p.Mg, 1, wg, p.kk, kg, xg, beta, yg, p.ohw)
			default:
				col := xg
				if !pw {
					col = *colp
					im2colPar(kg, xg, col)
				}
				kernels.Sgemm(false, false, p.Mg, p.ohw, p.kk, 1, wg, p.kk, col, p.ohw, beta, yg, p.ohw)
			}
		}
	}
	return []*tensor.T{y}, nil
}

// depthwiseForward accumulates the depthwise convolution (one input channel
// per group, Mg output channels each) into y.
func depthwiseForward(p *convPlan, x, w, y []float32) {
	g := p.g
	if g.KH == 3 && g.KW == 3 && g.DilH == 1 && g.DilW == 1 && p.rank == 4 {
		depthwise3x3(p, x, w, y)
		return
	}
	depthwiseTaps(p, x, w, y)
}

// depthwiseTaps is the general depthwise forward: tap by tap, each tap's
// product added to a whole row of outputs.
func depthwiseTaps(p *convPlan, x, w, y []float32) {
	g := p.g
	kh := g.KH * g.KW
	for n := 0; n < p.N; n++ {
		for c := 0; c < p.C; c++ {
			xp := x[(n*p.C+c)*p.hw:][:p.hw]
			for j := 0; j < p.Mg; j++ {
				m := c*p.Mg + j
				wp := w[m*kh:][:kh]
				yp := y[(n*p.M+m)*p.ohw:][:p.ohw]
				for ki := 0; ki < g.KH; ki++ {
					oy0, oy1 := validRange(g.OutH, g.H, g.StrideH, g.PadT, ki*g.DilH)
					for kj := 0; kj < g.KW; kj++ {
						ox0, ox1 := validRange(g.OutW, g.W, g.StrideW, g.PadL, kj*g.DilW)
						if ox0 >= ox1 {
							continue
						}
						wv := wp[ki*g.KW+kj]
						for oy := oy0; oy < oy1; oy++ {
							iy := oy*g.StrideH - g.PadT + ki*g.DilH
							ix0 := ox0*g.StrideW - g.PadL + kj*g.DilW
							yr := yp[oy*g.OutW+ox0 : oy*g.OutW+ox1]
							xr := xp[iy*g.W:][:g.W]
							if g.StrideW == 1 {
								xr = xr[ix0 : ix0+len(yr)]
								for i := range yr {
									yr[i] += wv * xr[i]
								}
							} else {
								ix := ix0
								for i := range yr {
									yr[i] += wv * xr[ix]
									ix += g.StrideW
								}
							}
						}
					}
				}
			}
		}
	}
}

// depthwiseBackward accumulates dX (if dx != nil) and dW (if dw != nil) of a
// depthwise convolution.
func depthwiseBackward(p *convPlan, x, w, dy, dx, dw []float32) {
	if dx != nil && depthwise3x3Dx(p, w, dy, dx) {
		if dx = nil; dw == nil {
			return
		}
	}
	depthwiseBackwardTaps(p, x, w, dy, dx, dw)
}

// depthwiseBackwardTaps is the general depthwise backward: tap by tap, each
// tap's products added to whole rows.
func depthwiseBackwardTaps(p *convPlan, x, w, dy, dx, dw []float32) {
	g := p.g
	kh := g.KH * g.KW
	for n := 0; n < p.N; n++ {
		for c := 0; c < p.C; c++ {
			xp := x[(n*p.C+c)*p.hw:][:p.hw]
			var dxp []float32
			if dx != nil {
				dxp = dx[(n*p.C+c)*p.hw:][:p.hw]
			}
			for j := 0; j < p.Mg; j++ {
				m := c*p.Mg + j
				wp := w[m*kh:][:kh]
				dyp := dy[(n*p.M+m)*p.ohw:][:p.ohw]
				for ki := 0; ki < g.KH; ki++ {
					oy0, oy1 := validRange(g.OutH, g.H, g.StrideH, g.PadT, ki*g.DilH)
					for kj := 0; kj < g.KW; kj++ {
						ox0, ox1 := validRange(g.OutW, g.W, g.StrideW, g.PadL, kj*g.DilW)
						if ox0 >= ox1 {
							continue
						}
						wv := wp[ki*g.KW+kj]
						var acc float32
						for oy := oy0; oy < oy1; oy++ {
							iy := oy*g.StrideH - g.PadT + ki*g.DilH
							ix0 := ox0*g.StrideW - g.PadL + kj*g.DilW
							dyr := dyp[oy*g.OutW+ox0 : oy*g.OutW+ox1]
							row := iy * g.W
							if g.StrideW == 1 {
								xr := xp[row+ix0 : row+ix0+len(dyr)]
								if dw != nil {
									for i, v := range dyr {
										acc += v * xr[i]
									}
								}
								if dxp != nil {
									dxr := dxp[row+ix0 : row+ix0+len(dyr)]
									for i, v := range dyr {
										dxr[i] += wv * v
									}
								}
							} else {
								ix := row + ix0
								for _, v := range dyr {
									if dw != nil {
										acc += v * xp[ix]
									}
									if dxp != nil {
										dxp[ix] += wv * v
									}
									ix += g.StrideW
								}
							}
						}
						if dw != nil {
							dw[m*kh+ki*g.KW+kj] += acc
						}
					}
				}
			}
		}
	}
}

func (op *Conv) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	p, err := op.plan(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.T, len(in))
	wantX := len(need) > 0 && need[0]
	wantW := len(need) > 1 && need[1]
	wantB := len(need) > 2 && need[2] && len(in) > 2 && in[2] != nil
	var dX, dW, dB *tensor.T
	if wantX {
		dX = tensor.New(p.xShape...)
		grads[0] = dX
	}
	if wantW {
		dW = tensor.New(p.wShape...)
		grads[1] = dW
	}
	if wantB {
		dB = tensor.New(in[2].Shape()...)
		grads[2] = dB
	}
	if len(gradOut) == 0 || gradOut[0] == nil {
		return grads, nil // zero gradients
	}
	dy := gradOut[0].F32()
	if len(dy) != p.N*p.M*p.ohw {
		return nil, fmt.Errorf("Conv backward: gradient has shape %s", tensor.ShapeString(gradOut[0].Shape()))
	}
	if wantB {
		db := dB.F32()
		for n := 0; n < p.N; n++ {
			for m := 0; m < p.M; m++ {
				var s float32
				for _, v := range dy[(n*p.M+m)*p.ohw:][:p.ohw] {
					s += v
				}
				db[m] += s
			}
		}
	}
	if !wantX && !wantW {
		return grads, nil
	}
	x, w := in[0].F32(), in[1].F32()
	if p.depthwise {
		var dx, dw []float32
		if wantX {
			dx = dX.F32()
		}
		if wantW {
			dw = dW.F32()
		}
		depthwiseBackward(p, x, w, dy, dx, dw)
		return grads, nil
	}
	if wantX && p.useWinograd() {
		winogradBackwardInput(p, &op.pack, w, dy, dX.F32(), in[1].Frozen())
		if wantX = false; !wantW {
			return grads, nil
		}
	}
	if wantX && p.useStemBackward() {
		stemBackwardInput(p, &op.pack, w, dy, dX.F32(), in[1].Frozen())
		if wantX = false; !wantW {
			return grads, nil
		}
	}
	pw := p.g.pointwise()
	var colp, dcolp *[]float32
	if !pw {
		if wantW {
			colp = scratchGet(p.kk * p.ohw)
			defer scratchPut(colp)
		}
		if wantX {
			dcolp = scratchGet(p.kk * p.ohw)
			defer scratchPut(dcolp)
		}
	}
	kg := p.g.kernels(p.Cg)
	// Frozen weights (a loaded model's) are kept packed transposed for the
	// input gradient's GEMMs (SgemmPacked's sums are Sgemm's from 2 rows
	// and 2 columns on).
	var paT []*kernels.PackedA
	if wantX && in[1].Frozen() && p.kk >= 2 && p.ohw >= 2 {
		paT = op.gemm.weights(w, true, true, p.G, p.Mg, p.kk)
	}
	for n := 0; n < p.N; n++ {
		for gi := 0; gi < p.G; gi++ {
			dyg := dy[(n*p.M+gi*p.Mg)*p.ohw:][:p.Mg*p.ohw]
			if wantW {
				// dW_g += dY_g · colᵀ
				xg := x[(n*p.C+gi*p.Cg)*p.hw:][:p.Cg*p.hw]
				col := xg
				if !pw {
					col = *colp
					im2colPar(kg, xg, col)
				}
				dwg := dW.F32()[gi*p.Mg*p.kk:][:p.Mg*p.kk]
				kernels.Sgemm(false, true, p.Mg, p.kk, p.ohw, 1, dyg, p.ohw, col, p.ohw, 1, dwg, p.kk)
			}
			if wantX {
				// dcol = W_gᵀ · dY_g, then dX_g = col2im(dcol)
				wg := w[gi*p.Mg*p.kk:][:p.Mg*p.kk]
				dxg := dX.F32()[(n*p.C+gi*p.Cg)*p.hw:][:p.Cg*p.hw]
				out := dxg
				if !pw {
					out = *dcolp
				}
				if paT != nil {
					kernels.SgemmPacked(paT[gi], false, p.ohw, 1, dyg, p.ohw, 0, out, p.ohw)
				} else {
					kernels.Sgemm(true, false, p.kk, p.ohw, p.Mg, 1, wg, p.kk, dyg, p.ohw, 0, out, p.ohw)
				}
				if !pw {
					kernels.Col2im(kg, out, dxg)
				}
			}
		}
	}
	return grads, nil
}
