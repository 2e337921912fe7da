package ops

// ConvTranspose over 1-D and 2-D inputs: the adjoint of a convolution, the
// upsampling of segmentation decoders. Inputs X (N×C×…), W (C × M/group ×
// k…) and an optional bias B (M); attributes kernel_shape, strides, pads,
// dilations, group, output_padding, output_shape and auto_pad.
//
// Each output pixel gathers every input pixel whose strided kernel covers
// it. Written with the convolution's own kernels: for each image and group,
//
//	forward   col = W_gᵀ·X_g,  Y_g += col2im(col)    (the Conv's input gradient)
//	backward  col = im2col(∂L/∂Y_g),  ∂L/∂X_g = W_g·col,  ∂L/∂W_g += X_g·colᵀ
//
// where the im2col geometry is that of the convolution ConvTranspose
// inverts: over the output's spatial size, with the same kernel, strides,
// pads and dilations, producing the input's spatial size.

import (
	"fmt"
	"slices"

	"github.com/cnnlens/cnnlens/engine/kernels"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("ConvTranspose", func(a Attrs, _ int) (Op, error) {
		w, err := readWindowAttrs(a)
		if err != nil {
			return nil, fmt.Errorf("ConvTranspose: %w", err)
		}
		g := int(a.Int("group", 1))
		if g <= 0 {
			return nil, fmt.Errorf("ConvTranspose: group %d must be positive", g)
		}
		return &convTransposeOp{win: w, group: g,
			outPad: winInts(a.Ints("output_padding", nil)), outShape: winInts(a.Ints("output_shape", nil))}, nil
	})
}

type convTransposeOp struct {
	win      windowAttrs
	group    int
	outPad   []int
	outShape []int
}

func (*convTransposeOp) Type() string { return "ConvTranspose" }

// ctPlan is one call's resolved shapes.
type ctPlan struct {
	geom           kernels.ConvGeom // the convolution from Y's plane to X's plane, one group
	N, C, M, G     int
	Cg, Mg, k      int // channels per group, and Mg·KH·KW (the im2col rows)
	inHW, outHW    int
	out            []int
	hasBias        bool
	xShape, wShape []int
	biasShape      []int
}

func (op *convTransposeOp) planShapes(xs, ws, bias []int) (*ctPlan, error) {
	if len(xs) != 3 && len(xs) != 4 {
		return nil, fmt.Errorf("ConvTranspose: X has shape %s; only 1-D and 2-D are supported", tensor.ShapeString(xs))
	}
	if len(ws) != len(xs) {
		return nil, fmt.Errorf("ConvTranspose: W shape %s does not match X shape %s", tensor.ShapeString(ws), tensor.ShapeString(xs))
	}
	nd := len(xs) - 2
	p := &ctPlan{N: xs[0], C: xs[1], G: op.group, Mg: ws[1], xShape: xs, wShape: ws}
	if ws[0] != p.C || p.C%p.G != 0 {
		return nil, fmt.Errorf("ConvTranspose: W %s does not fit X %s with group %d", tensor.ShapeString(ws), tensor.ShapeString(xs), p.G)
	}
	p.Cg, p.M = p.C/p.G, p.Mg*p.G
	kernel := ws[2:]
	if op.win.kernel != nil && !slices.Equal(op.win.kernel, kernel) {
		return nil, fmt.Errorf("ConvTranspose: kernel_shape %v does not match W shape %s", op.win.kernel, tensor.ShapeString(ws))
	}
	if bias != nil {
		if tensor.Size(bias) != p.M {
			return nil, fmt.Errorf("ConvTranspose: bias has shape %s, want %d", tensor.ShapeString(bias), p.M)
		}
		p.hasBias, p.biasShape = true, bias
	}
	at := func(v []int, i, def int, name string) (int, error) {
		if v == nil {
			return def, nil
		}
		if len(v) != nd {
			return 0, fmt.Errorf("ConvTranspose: %s %v does not match %d spatial dims", name, v, nd)
		}
		return v[i], nil
	}
	if op.win.pads != nil && len(op.win.pads) != 2*nd {
		return nil, fmt.Errorf("ConvTranspose: pads %v does not match %d spatial dims", op.win.pads, nd)
	}
	outShape := op.outShape
	if len(outShape) > nd {
		outShape = outShape[len(outShape)-nd:] // N and C given too
	}
	// Per spatial axis (1-D goes in the W slot): input size, kernel, stride,
	// dilation, leading pad, output size.
	var in, k, s, d, pb, out [2]int
	for i := range in {
		in[i], k[i], s[i], d[i], out[i] = 1, 1, 1, 1, 1
	}
	p.out = []int{p.N, p.M}
	for i := 0; i < nd; i++ {
		j := 2 - nd + i
		var err error
		in[j], k[j] = xs[2+i], kernel[i]
		if s[j], err = at(op.win.strides, i, 1, "strides"); err != nil {
			return nil, err
		}
		if d[j], err = at(op.win.dilations, i, 1, "dilations"); err != nil {
			return nil, err
		}
		opad, err := at(op.outPad, i, 0, "output_padding")
		if err != nil {
			return nil, err
		}
		full := s[j]*(in[j]-1) + opad + (k[j]-1)*d[j] + 1
		var o int
		switch {
		case outShape != nil || op.win.autoPad == "SAME_UPPER" || op.win.autoPad == "SAME_LOWER":
			if outShape != nil {
				if len(outShape) != nd {
					return nil, fmt.Errorf("ConvTranspose: output_shape %v does not match %d spatial dims", op.outShape, nd)
				}
				o = outShape[i]
			} else {
				o = in[j] * s[j]
			}
			// As the spec and its reference: SAME_UPPER pads the end more,
			// SAME_LOWER and an output_shape without auto_pad the start.
			// Halves round down (Python's //), also for a negative total
			// (an output_shape larger than the full output).
			total := full - o
			half := total >> 1
			if op.win.autoPad == "SAME_UPPER" {
				pb[j] = half
			} else {
				pb[j] = total - half
			}
		case op.win.autoPad == "VALID":
			o = full
		default:
			b, e := 0, 0
			if op.win.pads != nil {
				b, e = op.win.pads[i], op.win.pads[nd+i]
			}
			pb[j], o = b, full-b-e
		}
		if pb[j] < 0 || o <= 0 {
			return nil, fmt.Errorf("ConvTranspose: output size %d (padding %d) along spatial axis %d is not supported", o, pb[j], i)
		}
		out[j] = o
		p.out = append(p.out, o)
	}
	p.geom = kernels.ConvGeom{
		C: p.Mg, H: out[0], W: out[1], KH: k[0], KW: k[1],
		PadT: pb[0], PadL: pb[1], StrideH: s[0], StrideW: s[1], DilH: d[0], DilW: d[1],
		OutH: in[0], OutW: in[1],
	}
	p.k = p.Mg * k[0] * k[1]
	p.inHW, p.outHW = in[0]*in[1], out[0]*out[1]
	return p, nil
}

func (op *convTransposeOp) plan(in []*tensor.T) (*ctPlan, error) {
	if err := wantInputs("ConvTranspose", in, 2, 3); err != nil {
		return nil, err
	}
	var bias []int
	for k, t := range in {
		if t != nil && t.DType() != tensor.Float32 {
			return nil, fmt.Errorf("ConvTranspose: input %d must be float32, got %s", k, t.DType())
		}
	}
	if b := optInput(in, 2); b != nil {
		bias = b.Shape()
	}
	p, err := op.planShapes(in[0].Shape(), in[1].Shape(), bias)
	if err != nil {
		return nil, err
	}
	return p, checkOutSize("ConvTranspose", p.out)
}

func (op *convTransposeOp) Forward(in []*tensor.T) ([]*tensor.T, error) {
	p, err := op.plan(in)
	if err != nil {
		return nil, err
	}
	y := tensor.New(p.out...)
	x, w, yf := in[0].F32(), in[1].F32(), y.F32()
	if p.hasBias {
		b := in[2].F32()
		for n := 0; n < p.N; n++ {
			for m := 0; m < p.M; m++ {
				fill(yf[(n*p.M+m)*p.outHW:(n*p.M+m+1)*p.outHW], b[m])
			}
		}
	}
	colp := scratchGet(p.k * p.inHW)
	defer scratchPut(colp)
	col := *colp
	for n := 0; n < p.N; n++ {
		for g := 0; g < p.G; g++ {
			xg := x[(n*p.C+g*p.Cg)*p.inHW:]
			wg := w[g*p.Cg*p.k:]
			kernels.Sgemm(true, false, p.k, p.inHW, p.Cg, 1, wg, p.k, xg, p.inHW, 0, col, p.inHW)
			kernels.Col2im(p.geom, col, yf[(n*p.M+g*p.Mg)*p.outHW:(n*p.M+(g+1)*p.Mg)*p.outHW])
		}
	}
	return []*tensor.T{y}, nil
}

func (op *convTransposeOp) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	p, err := op.plan(in)
	if err != nil {
		return nil, err
	}
	if gradOut[0] == nil {
		return zeroGrads(in, need), nil
	}
	grads := make([]*tensor.T, len(in))
	gy := gradOut[0].F32()
	x, w := in[0].F32(), in[1].F32()
	var gx, gw []float32
	if needGrad(need, 0) {
		grads[0] = tensor.New(p.xShape...)
		gx = grads[0].F32()
	}
	if needGrad(need, 1) {
		grads[1] = tensor.New(p.wShape...)
		gw = grads[1].F32()
	}
	if needGrad(need, 2) && p.hasBias {
		gb := make([]float32, p.M)
		for n := 0; n < p.N; n++ {
			for m := 0; m < p.M; m++ {
				gb[m] += sumRow(gy[(n*p.M+m)*p.outHW : (n*p.M+m+1)*p.outHW])
			}
		}
		grads[2] = tensor.FromF32(gb, p.biasShape...)
	}
	if gx == nil && gw == nil {
		return grads, nil
	}
	colp := scratchGet(p.k * p.inHW)
	defer scratchPut(colp)
	col := *colp
	for n := 0; n < p.N; n++ {
		for g := 0; g < p.G; g++ {
			kernels.Im2col(p.geom, gy[(n*p.M+g*p.Mg)*p.outHW:(n*p.M+(g+1)*p.Mg)*p.outHW], col)
			wg := w[g*p.Cg*p.k:]
			if gx != nil {
				kernels.Sgemm(false, false, p.Cg, p.inHW, p.k, 1, wg, p.k, col, p.inHW, 0, gx[(n*p.C+g*p.Cg)*p.inHW:], p.inHW)
			}
			if gw != nil {
				kernels.Sgemm(false, true, p.Cg, p.k, p.inHW, 1, x[(n*p.C+g*p.Cg)*p.inHW:], p.inHW, col, p.inHW, 1, gw[g*p.Cg*p.k:], p.k)
			}
		}
	}
	return grads, nil
}

func (op *convTransposeOp) OutShapes(s [][]int, _ []*tensor.T) ([][]int, error) {
	if len(s) < 2 || s[0] == nil || s[1] == nil {
		return nil, fmt.Errorf("ConvTranspose needs inputs X and W")
	}
	var bias []int
	if len(s) > 2 {
		bias = s[2]
	}
	p, err := op.planShapes(s[0], s[1], bias)
	if err != nil {
		return nil, err
	}
	return [][]int{p.out}, nil
}
