package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// bnRef normalises x (N×C×…) per channel with the given statistics.
func bnRef(x, scale, bias *tensor.T, mean, variance []float64, eps float64) *tensor.T {
	xs := x.Shape()
	n, ch := xs[0], xs[1]
	inner := tensor.Size(xs[2:])
	y := tensor.New(xs...)
	for b := 0; b < n; b++ {
		for c := 0; c < ch; c++ {
			for i := 0; i < inner; i++ {
				k := (b*ch+c)*inner + i
				y.F32()[k] = float32((float64(x.F32()[k])-mean[c])/math.Sqrt(variance[c]+eps)*float64(scale.F32()[c]) + float64(bias.F32()[c]))
			}
		}
	}
	return y
}

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func bnInputs(rng *rand.Rand, shape ...int) []*tensor.T {
	c := shape[1]
	return []*tensor.T{
		randT(rng, -1, 1, shape...),
		randT(rng, 0.5, 1.5, c),
		randT(rng, -0.5, 0.5, c),
		randT(rng, -0.3, 0.3, c),
		randT(rng, 0.5, 2, c),
	}
}

func TestBatchNormInference(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	for _, shape := range [][]int{{2, 3, 4, 5}, {4, 3}, {2, 3, 5}} {
		op := nnOp(t, "BatchNormalization", MapAttrs{"epsilon": float32(1e-3)})
		in := bnInputs(rng, shape...)
		out := nnForward(t, op, in...)
		if len(out) != 1 {
			t.Fatalf("inference: %d outputs", len(out))
		}
		want := bnRef(in[0], in[1], in[2], f64s(in[3].F32()), f64s(in[4].F32()), 1e-3)
		nnClose(t, "bn inference", out[0], want, 1e-5)
		checkGrad(t, op, in, []int{0, 1, 2}, 1e-2, 1e-2)
		grads, err := op.Backward(in, out, []*tensor.T{randT(rng, -1, 1, shape...)}, []bool{true, true, true, true, true})
		if err != nil {
			t.Fatal(err)
		}
		if grads[3] != nil || grads[4] != nil {
			t.Fatal("inference mode: mean/var gradients should be nil")
		}
		// The input's gradient alone (saliency) is the same.
		gy := randT(rng, -1, 1, shape...)
		all, _ := op.Backward(in, out, []*tensor.T{gy}, []bool{true, true, true})
		only, err := op.Backward(in, out, []*tensor.T{gy}, []bool{true})
		if err != nil {
			t.Fatal(err)
		}
		nnClose(t, "dX without dScale, dB", only[0], all[0], 0)
	}
}

func TestBatchNormSpatial0(t *testing.T) {
	// opset 7 spatial=0: statistics per activation (C·H·W values).
	rng := rand.New(rand.NewSource(22))
	x := randT(rng, -1, 1, 2, 2, 3)
	p := []*tensor.T{randT(rng, 0.5, 1.5, 2, 3), randT(rng, -1, 1, 2, 3), randT(rng, -1, 1, 2, 3), randT(rng, 0.5, 2, 2, 3)}
	op := nnOp(t, "BatchNormalization", MapAttrs{"spatial": int64(0)})
	out := nnForward(t, op, append([]*tensor.T{x}, p...)...)
	x2, _ := x.Reshape(2, 6)
	s, b := tensor.FromF32(p[0].F32(), 6), tensor.FromF32(p[1].F32(), 6)
	want := bnRef(x2, s, b, f64s(p[2].F32()), f64s(p[3].F32()), 1e-5)
	w3, _ := want.Reshape(2, 2, 3)
	nnClose(t, "spatial=0", out[0], w3, 1e-5)
}

// The ONNX conformance case test_batchnorm_example_training_mode.
func TestBatchNormTrainingExample(t *testing.T) {
	x := tensor.FromF32([]float32{-1, 0, 1, 2, 3, 4}, 1, 2, 1, 3)
	s := tensor.FromF32([]float32{1, 1.5}, 2)
	b := tensor.FromF32([]float32{0, 1}, 2)
	mean := tensor.FromF32([]float32{0, 3}, 2)
	variance := tensor.FromF32([]float32{1, 1.5}, 2)
	op := nnOp(t, "BatchNormalization", MapAttrs{"training_mode": int64(1)})
	out := nnForward(t, op, x, s, b, mean, variance)
	if len(out) != 3 {
		t.Fatalf("training mode: %d outputs, want 3", len(out))
	}
	d := float32(1 / math.Sqrt(2.0/3+1e-5))
	nnClose(t, "Y", out[0], tensor.FromF32([]float32{-d, 0, d, 1 - 1.5*d, 1, 1 + 1.5*d}, 1, 2, 1, 3), 1e-5)
	nnClose(t, "running_mean", out[1], tensor.FromF32([]float32{0, 3}, 2), 1e-6)
	nnClose(t, "running_var", out[2], tensor.FromF32([]float32{0.9 + 0.1*2/3.0, 1.35 + 0.1*2/3.0}, 2), 1e-6)
}

func TestBatchNormTraining(t *testing.T) {
	rng := rand.New(rand.NewSource(23))
	for _, opset := range []int{15, 9} {
		op, err := New("BatchNormalization", MapAttrs{"momentum": float32(0.8)}, opset)
		if err != nil {
			t.Fatal(err)
		}
		// The trainer switches an inference-built op to training mode.
		op.(*BatchNorm).Training = true
		shape := []int{3, 2, 2, 2}
		in := bnInputs(rng, shape...)
		in[0] = randT(rng, 1, 3, shape...) // mean far from the running one
		out := nnForward(t, op, in...)
		wantOuts := 3
		if opset < 14 {
			wantOuts = 5
		}
		if len(out) != wantOuts {
			t.Fatalf("opset %d: %d outputs, want %d", opset, len(out), wantOuts)
		}
		// batch statistics in float64
		n, ch, inner := 3, 2, 4
		mu, vr := make([]float64, ch), make([]float64, ch)
		for c := 0; c < ch; c++ {
			var vals []float64
			for b := 0; b < n; b++ {
				for i := 0; i < inner; i++ {
					vals = append(vals, float64(in[0].F32()[(b*ch+c)*inner+i]))
				}
			}
			for _, v := range vals {
				mu[c] += v / float64(len(vals))
			}
			for _, v := range vals {
				vr[c] += (v - mu[c]) * (v - mu[c]) / float64(len(vals))
			}
		}
		nnClose(t, "Y", out[0], bnRef(in[0], in[1], in[2], mu, vr, 1e-5), 1e-5)
		rm, rv := tensor.New(ch), tensor.New(ch)
		for c := 0; c < ch; c++ {
			rm.F32()[c] = float32(float64(in[3].F32()[c])*0.8 + mu[c]*0.2)
			rv.F32()[c] = float32(float64(in[4].F32()[c])*0.8 + vr[c]*0.2)
		}
		nnClose(t, "running_mean", out[1], rm, 1e-5)
		nnClose(t, "running_var", out[2], rv, 1e-5)
		if opset < 14 {
			nnClose(t, "saved_mean", out[3], tensor.FromF32([]float32{float32(mu[0]), float32(mu[1])}, 2), 1e-5)
			nnClose(t, "saved_var", out[4], tensor.FromF32([]float32{float32(vr[0]), float32(vr[1])}, 2), 1e-5)
		}
		// All outputs carry random gradients in checkGrad's objective.
		checkGrad(t, op, in, []int{0, 1, 2, 3, 4}, 1e-2, 1e-2)

		// Only Y's gradient: the classic batch-norm backward.
		gy := randT(rng, -1, 1, shape...)
		grads, err := op.Backward(in, out, []*tensor.T{gy}, []bool{true, true, true, false, false})
		if err != nil {
			t.Fatal(err)
		}
		sdx := make([]float64, ch)
		for i, v := range grads[0].F32() {
			sdx[(i/inner)%ch] += float64(v)
		}
		for c := 0; c < ch; c++ {
			if math.Abs(sdx[c]) > 1e-4 {
				t.Fatalf("Σ dX over channel %d = %g, want 0 (mean is removed)", c, sdx[c])
			}
		}
		// PyTorch's running_var: unbiased batch variance (12 values per channel here).
		op.(*BatchNorm).UnbiasedRunningVar = true
		out = nnForward(t, op, in...)
		for c := 0; c < ch; c++ {
			rv.F32()[c] = float32(float64(in[4].F32()[c])*0.8 + vr[c]*12/11*0.2)
		}
		nnClose(t, "unbiased running_var", out[2], rv, 1e-5)
		checkGrad(t, op, in, []int{0, 4}, 1e-2, 1e-2)
		op.(*BatchNorm).UnbiasedRunningVar = false

		op.(*BatchNorm).Training = false
		if out := nnForward(t, op, in...); len(out) != 1 {
			t.Fatalf("back in inference mode: %d outputs", len(out))
		}
	}
}

func TestBatchNormErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(24))
	op := nnOp(t, "BatchNormalization", MapAttrs{})
	in := bnInputs(rng, 2, 3, 2, 2)
	in[2] = randT(rng, 0, 1, 4)
	if _, err := op.Forward(in); err == nil {
		t.Fatal("bias of 4 for 3 channels accepted")
	}
	if _, err := op.Forward(in[:4]); err == nil {
		t.Fatal("4 inputs accepted")
	}
}
