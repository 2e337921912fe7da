package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestReduceForward(t *testing.T) {
	// x[i,j,k] = 12i + 4j + k, shape [2,3,4].
	x := bcRange(2, 3, 4)
	cases := []struct {
		op    string
		attrs MapAttrs
		opset int
		in    []*tensor.T // extra inputs (axes)
		shape []int
		want  []float32
	}{
		{"ReduceSum", MapAttrs{"axes": []int64{2}}, 11, nil, []int{2, 3, 1}, []float32{6, 22, 38, 54, 70, 86}},
		{"ReduceSum", MapAttrs{"axes": []int64{-1}, "keepdims": int64(0)}, 11, nil, []int{2, 3}, []float32{6, 22, 38, 54, 70, 86}},
		{"ReduceSum", nil, 13, []*tensor.T{bcI([]int64{0, 2}, 2)}, []int{1, 3, 1}, []float32{60, 92, 124}},
		{"ReduceSum", nil, 13, nil, []int{1, 1, 1}, []float32{276}},
		{"ReduceSum", MapAttrs{"keepdims": int64(0)}, 13, []*tensor.T{bcI(nil, 0)}, []int{}, []float32{276}},
		{"ReduceSum", MapAttrs{"noop_with_empty_axes": int64(1)}, 13, []*tensor.T{bcI(nil, 0)}, []int{2, 3, 4}, x.F32()},
		{"ReduceMean", MapAttrs{"axes": []int64{1}}, 13, nil, []int{2, 1, 4}, []float32{4, 5, 6, 7, 16, 17, 18, 19}},
		{"ReduceMean", MapAttrs{"axes": []int64{1, 2}, "keepdims": int64(0)}, 13, nil, []int{2}, []float32{5.5, 17.5}},
		{"ReduceMean", nil, 18, []*tensor.T{bcI([]int64{-2, -1}, 2)}, []int{2, 1, 1}, []float32{5.5, 17.5}},
		{"ReduceMax", MapAttrs{"axes": []int64{0}}, 13, nil, []int{1, 3, 4}, x.F32()[12:]},
		{"ReduceMax", nil, 13, nil, []int{1, 1, 1}, []float32{23}},
		{"ReduceMin", MapAttrs{"axes": []int64{2}, "keepdims": int64(0)}, 13, nil, []int{2, 3}, []float32{0, 4, 8, 12, 16, 20}},
		{"ReduceMin", nil, 18, []*tensor.T{bcI([]int64{1}, 1)}, []int{2, 1, 4}, []float32{0, 1, 2, 3, 12, 13, 14, 15}},
	}
	for _, c := range cases {
		op := bcOp(t, c.op, c.attrs, c.opset)
		bcWantF(t, bcRun(t, op, append([]*tensor.T{x}, c.in...)...)[0], c.shape, c.want)
	}
	// Global average pool as ReduceMean over the spatial axes.
	rng := rand.New(rand.NewSource(51))
	f := randT(rng, -1, 1, 2, 3, 7, 7)
	got := bcRun(t, bcOp(t, "ReduceMean", MapAttrs{"axes": []int64{2, 3}}, 13), f)[0]
	want := make([]float32, 6)
	for c := range want {
		var s float64
		for _, v := range f.F32()[c*49 : (c+1)*49] {
			s += float64(v)
		}
		want[c] = float32(s / 49)
	}
	bcWantF(t, got, []int{2, 3, 1, 1}, want)
	// int64.
	bcWantI(t, bcRun(t, bcOp(t, "ReduceSum", MapAttrs{"keepdims": int64(0)}, 13), bcI([]int64{1, 2, 3}, 3))[0], []int{}, []int64{6})
	bcWantI(t, bcRun(t, bcOp(t, "ReduceMax", MapAttrs{"keepdims": int64(0)}, 13), bcI([]int64{1, 7, 3}, 3))[0], []int{}, []int64{7})
	// Empty reductions.
	bcWantF(t, bcRun(t, bcOp(t, "ReduceMax", MapAttrs{"axes": []int64{1}}, 13), tensor.New(2, 0))[0], []int{2, 1}, []float32{float32(math.Inf(-1)), float32(math.Inf(-1))})
	bcWantF(t, bcRun(t, bcOp(t, "ReduceSum", MapAttrs{"axes": []int64{1}}, 11), tensor.New(2, 0))[0], []int{2, 1}, []float32{0, 0})
	bcFails(t, bcOp(t, "ReduceSum", MapAttrs{"axes": []int64{3}}, 11), x)
}

func TestReduceGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(52))
	for _, name := range []string{"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"} {
		for _, c := range []struct {
			attrs MapAttrs
			opset int
			axes  *tensor.T
		}{
			{MapAttrs{"axes": []int64{2, 3}}, 13, nil},
			{MapAttrs{"axes": []int64{1}, "keepdims": int64(0)}, 13, nil},
			{MapAttrs{"axes": []int64{-1, 0}}, 11, nil},
			{nil, 13, nil},
			{MapAttrs{"keepdims": int64(0)}, 18, bcI([]int64{0, 2}, 2)},
			{MapAttrs{"noop_with_empty_axes": int64(1)}, 18, bcI(nil, 0)},
		} {
			op := bcOp(t, name, c.attrs, c.opset)
			// Distinct values: no ties for Max/Min.
			x := randT(rng, -1, 1, 2, 3, 2, 3)
			in := []*tensor.T{x}
			if c.axes != nil {
				in = append(in, c.axes)
			}
			checkGrad(t, op, in, []int{0}, 1e-3, 1e-2)
		}
	}
}

func TestReduceMaxTies(t *testing.T) {
	op := bcOp(t, "ReduceMax", MapAttrs{"axes": []int64{1}}, 13)
	x := bcF([]float32{1, 3, 3, 2, 0, 1}, 2, 3)
	out := bcRun(t, op, x)
	g, err := op.Backward([]*tensor.T{x}, out, []*tensor.T{bcF([]float32{4, 5}, 2, 1)}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	// Ties share the gradient evenly, as torch.amax does.
	bcWantF(t, g[0], []int{2, 3}, []float32{0, 2, 2, 5, 0, 0})
}
