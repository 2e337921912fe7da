package ops

import (
	"fmt"
	"math"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func init() {
	Register("BatchNormalization", func(a Attrs, opset int) (Op, error) {
		bn := &BatchNorm{
			Epsilon:  a.Float("epsilon", 1e-5),
			Momentum: a.Float("momentum", 0.9),
			Training: a.Int("training_mode", 0) != 0,
			Opset:    opset,
		}
		return bn, nil
	})
}

// BatchNorm is the ONNX BatchNormalization operator (opsets 9–15; the
// older per-activation layout, spatial=0, also works since the channel count
// is taken from scale). Inputs: X (N×C×D1…), scale, B, input_mean,
// input_var, all of length C.
//
// In inference mode Y = scale·(X−mean)/sqrt(var+ε) + B and Forward returns
// [Y]. In training mode (the training_mode attribute, or Training set by the
// trainer) the batch statistics are used: current_mean and current_var
// (population variance, as in the ONNX spec) over all axes but the channel,
// and Forward returns [Y, running_mean, running_var] with
// running = input·Momentum + current·(1−Momentum). For Opset < 14, whose
// training-mode nodes list five outputs, it also returns saved_mean and
// saved_var (the batch mean and population variance).
type BatchNorm struct {
	Epsilon  float32
	Momentum float32
	// Training selects batch statistics; the trainer may switch it on and
	// off on a built op.
	Training bool
	// Opset is the model's opset (decides the training-mode output count).
	Opset int
	// UnbiasedRunningVar makes running_var accumulate the unbiased batch
	// variance (×M/(M−1), M values per channel) as PyTorch's BatchNorm does,
	// instead of the population variance of the ONNX spec. Normalisation
	// always uses the population variance.
	UnbiasedRunningVar bool
}

// runningVarFactor is the factor applied to the batch variance in running_var.
func (op *BatchNorm) runningVarFactor(cnt float64) float64 {
	if op.UnbiasedRunningVar && cnt > 1 {
		return cnt / (cnt - 1)
	}
	return 1
}

func (*BatchNorm) Type() string { return "BatchNormalization" }

// bnDims checks the inputs and returns the number of channels and the
// per-channel run length: element (n, c, i) is at (n·ch + c)·inner + i.
func bnDims(in []*tensor.T) (n, ch, inner int, err error) {
	if len(in) < 5 {
		return 0, 0, 0, fmt.Errorf("BatchNormalization needs 5 inputs, got %d", len(in))
	}
	for k := 0; k < 5; k++ {
		if in[k] == nil || in[k].DType() != tensor.Float32 {
			return 0, 0, 0, fmt.Errorf("BatchNormalization: input %d missing or not float32", k)
		}
	}
	xs := in[0].Shape()
	if len(xs) < 2 {
		return 0, 0, 0, fmt.Errorf("BatchNormalization: X has shape %s, need N×C×…", tensor.ShapeString(xs))
	}
	n, ch = xs[0], in[1].Len()
	switch {
	case ch == xs[1]:
		inner = tensor.Size(xs[2:])
	case ch == tensor.Size(xs[1:]):
		inner = 1
	default:
		return 0, 0, 0, fmt.Errorf("BatchNormalization: scale has %d values for X of shape %s", ch, tensor.ShapeString(xs))
	}
	for k := 2; k < 5; k++ {
		if in[k].Len() != ch {
			return 0, 0, 0, fmt.Errorf("BatchNormalization: input %d has %d values, want %d", k, in[k].Len(), ch)
		}
	}
	return n, ch, inner, nil
}

// batchStats returns the per-channel mean and population variance of x.
func batchStats(x []float32, n, ch, inner int) (mean, variance []float64) {
	mean, variance = make([]float64, ch), make([]float64, ch)
	cnt := float64(n * inner)
	for c := 0; c < ch; c++ {
		var s float64
		for b := 0; b < n; b++ {
			for _, v := range x[(b*ch+c)*inner:][:inner] {
				s += float64(v)
			}
		}
		mu := s / cnt
		var q float64
		for b := 0; b < n; b++ {
			for _, v := range x[(b*ch+c)*inner:][:inner] {
				d := float64(v) - mu
				q += d * d
			}
		}
		mean[c], variance[c] = mu, q/cnt
	}
	return mean, variance
}

func (op *BatchNorm) Forward(in []*tensor.T) ([]*tensor.T, error) { return op.ForwardBufs(in, nil) }

// ForwardBufs is Forward with Y taken from bufs (BufForwarder): every
// element is written.
func (op *BatchNorm) ForwardBufs(in []*tensor.T, bufs Bufs) ([]*tensor.T, error) {
	n, ch, inner, err := bnDims(in)
	if err != nil {
		return nil, err
	}
	x := in[0].F32()
	scale, bias, imean, ivar := in[1].F32(), in[2].F32(), in[3].F32(), in[4].F32()
	y := newOut(bufs, in[0].Shape()...)
	yf := y.F32()
	var mean, variance []float64
	if op.Training {
		mean, variance = batchStats(x, n, ch, inner)
	}
	parallelFor(ch, float64(n*ch*inner)*8, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var mu, v float64
			if op.Training {
				mu, v = mean[c], variance[c]
			} else {
				mu, v = float64(imean[c]), float64(ivar[c])
			}
			inv := 1 / math.Sqrt(v+float64(op.Epsilon))
			a, b, muf := float32(float64(scale[c])*inv), bias[c], float32(mu)
			for bn := 0; bn < n; bn++ {
				off := (bn*ch + c) * inner
				bnAffine(yf[off:off+inner], x[off:off+inner], muf, a, b)
			}
		}
	})
	if !op.Training {
		return []*tensor.T{y}, nil
	}
	m := float64(op.Momentum)
	vf := op.runningVarFactor(float64(n * inner))
	rm, rv := tensor.New(in[3].Shape()...), tensor.New(in[4].Shape()...)
	for c := 0; c < ch; c++ {
		rm.F32()[c] = float32(float64(imean[c])*m + mean[c]*(1-m))
		rv.F32()[c] = float32(float64(ivar[c])*m + variance[c]*vf*(1-m))
	}
	outs := []*tensor.T{y, rm, rv}
	if op.Opset < 14 {
		sm, sv := tensor.New(ch), tensor.New(ch)
		for c := 0; c < ch; c++ {
			sm.F32()[c], sv.F32()[c] = float32(mean[c]), float32(variance[c])
		}
		outs = append(outs, sm, sv)
	}
	return outs, nil
}

func (op *BatchNorm) Backward(in, out, gradOut []*tensor.T, need []bool) ([]*tensor.T, error) {
	n, ch, inner, err := bnDims(in)
	if err != nil {
		return nil, err
	}
	want := func(k int) bool { return k < len(need) && need[k] }
	gout := func(k int) []float32 {
		if k < len(gradOut) && gradOut[k] != nil {
			return gradOut[k].F32()
		}
		return nil
	}
	grads := make([]*tensor.T, len(in))
	for k := 0; k < 3; k++ {
		if want(k) {
			grads[k] = tensor.New(in[k].Shape()...)
		}
	}
	if op.Training {
		// d running_mean / d input_mean = d running_var / d input_var = momentum
		for k := 3; k < 5; k++ {
			if !want(k) {
				continue
			}
			grads[k] = tensor.New(in[k].Shape()...)
			if g := gout(k - 2); g != nil {
				for c := range g {
					grads[k].F32()[c] = op.Momentum * g[c]
				}
			}
		}
	}
	if !want(0) && !want(1) && !want(2) {
		return grads, nil
	}
	x := in[0].F32()
	scale, imean, ivar := in[1].F32(), in[3].F32(), in[4].F32()
	dy := gout(0)
	if dy != nil && len(dy) != len(x) {
		return nil, fmt.Errorf("BatchNormalization backward: gradient has shape %s", tensor.ShapeString(gradOut[0].Shape()))
	}
	var mean, variance []float64
	if op.Training {
		mean, variance = batchStats(x, n, ch, inner)
	}
	// Gradients reaching the batch statistics through the extra outputs.
	gRM, gRV, gSM, gSV := gout(1), gout(2), gout(3), gout(4)
	cnt := float64(n * inner)
	m := float64(op.Momentum)
	for c := 0; c < ch; c++ {
		var mu, v float64
		if op.Training {
			mu, v = mean[c], variance[c]
		} else {
			mu, v = float64(imean[c]), float64(ivar[c])
		}
		inv := 1 / math.Sqrt(v+float64(op.Epsilon))
		// Σ dy and Σ dy·x̂ over the channel
		var sdy, sdyx float64
		if dy != nil && (op.Training || want(1) || want(2)) {
			for b := 0; b < n; b++ {
				off := (b*ch + c) * inner
				xr, dr := x[off:off+inner], dy[off:off+inner]
				for i, g := range dr {
					sdy += float64(g)
					sdyx += float64(g) * (float64(xr[i]) - mu)
				}
			}
			sdyx *= inv
		}
		if want(1) {
			grads[1].F32()[c] = float32(sdyx)
		}
		if want(2) {
			grads[2].F32()[c] = float32(sdy)
		}
		if !want(0) {
			continue
		}
		dx := grads[0].F32()
		k := float64(scale[c]) * inv
		if !op.Training {
			if dy == nil {
				continue
			}
			kf := float32(k)
			for b := 0; b < n; b++ {
				off := (b*ch + c) * inner
				scaleTo(dx[off:off+inner], dy[off:off+inner], kf)
			}
			continue
		}
		// Training: x̂ = (x−μ)·inv with μ, σ² from the batch.
		// dx = k·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) + gμ/M + gσ²·2(x−μ)/M,
		// where gμ, gσ² collect the extra outputs' gradients.
		var gmu, gvar float64
		if gRM != nil {
			gmu += (1 - m) * float64(gRM[c])
		}
		if gSM != nil {
			gmu += float64(gSM[c])
		}
		if gRV != nil {
			gvar += (1 - m) * op.runningVarFactor(cnt) * float64(gRV[c])
		}
		if gSV != nil {
			gvar += float64(gSV[c])
		}
		// dx = A·dy + Bc·(x−μ) + Cc, with
		a := k
		bc := -k*inv*sdyx/cnt + 2*gvar/cnt
		cc := -k*sdy/cnt + gmu/cnt
		af, bf, cf, muf := float32(a), float32(bc), float32(cc), float32(mu)
		for b := 0; b < n; b++ {
			off := (b*ch + c) * inner
			xr, dxr := x[off:off+inner], dx[off:off+inner]
			if dy == nil {
				for i, xv := range xr {
					dxr[i] = bf*(xv-muf) + cf
				}
				continue
			}
			dr := dy[off : off+inner]
			for i, g := range dr {
				dxr[i] = af*g + bf*(xr[i]-muf) + cf
			}
		}
	}
	return grads, nil
}

// bnAffine sets y[i] = (x[i]-mu)·a + b, eight values per loop iteration
// (Go's wasm code pays for every iteration: 2–3× faster under Node); in
// wasm the whole groups of eight in generated assembly (bnAffineBulk).
func bnAffine(y, x []float32, mu, a, b float32) {
	y = y[:len(x)]
	i := bnAffineBulk(y, x, mu, a, b) // wasm: the assembly loop's part
	for ; i+8 <= len(x); i += 8 {
		xs, ys := (*[8]float32)(x[i:i+8]), (*[8]float32)(y[i:i+8])
		ys[0], ys[1], ys[2], ys[3] = (xs[0]-mu)*a+b, (xs[1]-mu)*a+b, (xs[2]-mu)*a+b, (xs[3]-mu)*a+b
		ys[4], ys[5], ys[6], ys[7] = (xs[4]-mu)*a+b, (xs[5]-mu)*a+b, (xs[6]-mu)*a+b, (xs[7]-mu)*a+b
	}
	for ; i < len(x); i++ {
		y[i] = (x[i]-mu)*a + b
	}
}

// scaleTo sets y[i] = x[i]·k, eight values per loop iteration.
func scaleTo(y, x []float32, k float32) {
	y = y[:len(x)]
	i := 0
	for ; i+8 <= len(x); i += 8 {
		xs, ys := (*[8]float32)(x[i:i+8]), (*[8]float32)(y[i:i+8])
		ys[0], ys[1], ys[2], ys[3] = xs[0]*k, xs[1]*k, xs[2]*k, xs[3]*k
		ys[4], ys[5], ys[6], ys[7] = xs[4]*k, xs[5]*k, xs[6]*k, xs[7]*k
	}
	for ; i < len(x); i++ {
		y[i] = x[i] * k
	}
}
