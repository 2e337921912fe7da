package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

func TestAddBroadcastForward(t *testing.T) {
	add := bcOp(t, "Add", nil, 13)
	a := bcF([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}, 2, 3, 4)
	b := bcF([]float32{100, 200, 300, 400}, 4)
	got := bcRun(t, add, a, b)[0]
	want := make([]float32, 24)
	for i := range want {
		want[i] = float32(i) + float32(100*(i%4+1))
	}
	bcWantF(t, got, []int{2, 3, 4}, want)

	// [2,1,4] * [3,1] → [2,3,4]: out[i,j,k] = a[i,0,k]·b[j,0].
	mul := bcOp(t, "Mul", nil, 13)
	a = bcF([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 1, 4)
	b = bcF([]float32{1, 10, 100}, 3, 1)
	got = bcRun(t, mul, a, b)[0]
	bcWantF(t, got, []int{2, 3, 4}, []float32{
		1, 2, 3, 4, 10, 20, 30, 40, 100, 200, 300, 400,
		5, 6, 7, 8, 50, 60, 70, 80, 500, 600, 700, 800,
	})

	// Scalars on either side.
	sub := bcOp(t, "Sub", nil, 13)
	bcWantF(t, bcRun(t, sub, bcF([]float32{10}), bcF([]float32{1, 2, 3}, 3))[0], []int{3}, []float32{9, 8, 7})
	div := bcOp(t, "Div", nil, 13)
	bcWantF(t, bcRun(t, div, bcF([]float32{2, 4, 6}, 3), bcF([]float32{2}))[0], []int{3}, []float32{1, 2, 3})
	bcWantF(t, bcRun(t, div, bcF([]float32{2}), bcF([]float32{4}))[0], []int{}, []float32{0.5})

	bcFails(t, add, bcF([]float32{1, 2}, 2), bcF([]float32{1, 2, 3}, 3))
	bcFails(t, add, bcF([]float32{1}, 1), bcI([]int64{1}, 1))
}

func TestArithmeticInt64(t *testing.T) {
	a := bcI([]int64{2, 3, 4, -7}, 4)
	b := bcI([]int64{2}, 1)
	bcWantI(t, bcRun(t, bcOp(t, "Add", nil, 13), a, b)[0], []int{4}, []int64{4, 5, 6, -5})
	bcWantI(t, bcRun(t, bcOp(t, "Sub", nil, 13), b, a)[0], []int{4}, []int64{0, -1, -2, 9})
	bcWantI(t, bcRun(t, bcOp(t, "Mul", nil, 13), a, b)[0], []int{4}, []int64{4, 6, 8, -14})
	// Integer division truncates toward zero.
	bcWantI(t, bcRun(t, bcOp(t, "Div", nil, 13), a, b)[0], []int{4}, []int64{1, 1, 2, -3})
	bcFails(t, bcOp(t, "Div", nil, 13), a, bcI([]int64{0}))
	// Int backward gives no gradient.
	add := bcOp(t, "Add", nil, 13)
	out := bcRun(t, add, a, b)
	g, err := add.Backward([]*tensor.T{a, b}, out, []*tensor.T{nil}, []bool{true, true})
	if err != nil || g[0] != nil || g[1] != nil {
		t.Fatalf("int64 Add backward = %v, %v; want nil gradients", g, err)
	}
}

func TestArithmeticGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, name := range []string{"Add", "Sub", "Mul", "Div"} {
		op := bcOp(t, name, nil, 13)
		for _, sh := range bcShapePairs {
			if tensor.Size(sh[0]) == 0 {
				continue
			}
			a := randT(rng, -2, 2, sh[0]...)
			b := randT(rng, 0.5, 2, sh[1]...)
			checkGrad(t, op, []*tensor.T{a, b}, []int{0, 1}, 1e-2, 1e-2)
		}
	}
}

func TestArithmeticBackwardOnlyNeeded(t *testing.T) {
	mul := bcOp(t, "Mul", nil, 13)
	a, b := bcF([]float32{1, 2}, 2), bcF([]float32{3}, 1)
	out := bcRun(t, mul, a, b)
	g, err := mul.Backward([]*tensor.T{a, b}, out, []*tensor.T{bcF([]float32{1, 1}, 2)}, []bool{true, false})
	if err != nil || g[1] != nil {
		t.Fatalf("Mul backward gave an unwanted gradient: %v %v", g, err)
	}
	bcWantF(t, g[0], []int{2}, []float32{3, 3})
	// A nil output gradient is zero.
	g, err = mul.Backward([]*tensor.T{a, b}, out, []*tensor.T{nil}, []bool{true, true})
	if err != nil {
		t.Fatal(err)
	}
	bcWantF(t, g[0], []int{2}, []float32{0, 0})
	bcWantF(t, g[1], []int{1}, []float32{0})
	// Add's gradients are fresh slices, not the output gradient itself.
	add := bcOp(t, "Add", nil, 13)
	gy := bcF([]float32{1, 2}, 2)
	g, _ = add.Backward([]*tensor.T{a, a}, out, []*tensor.T{gy}, []bool{true, true})
	g[0].F32()[0] = 99
	if gy.F32()[0] != 1 || g[1].F32()[0] != 1 {
		t.Fatal("Add backward shares storage between gradients")
	}
}

func TestPow(t *testing.T) {
	pow := bcOp(t, "Pow", nil, 15)
	x := bcF([]float32{1, 2, 3, 4}, 2, 2)
	bcWantF(t, bcRun(t, pow, x, bcF([]float32{2}))[0], []int{2, 2}, []float32{1, 4, 9, 16})
	bcWantF(t, bcRun(t, pow, x, bcF([]float32{0.5}))[0], []int{2, 2}, []float32{1, float32(math.Sqrt2), float32(math.Sqrt(3)), 2})
	bcWantF(t, bcRun(t, pow, x, bcI([]int64{3}))[0], []int{2, 2}, []float32{1, 8, 27, 64})
	bcWantF(t, bcRun(t, pow, x, bcF([]float32{1, -1}, 2))[0], []int{2, 2}, []float32{1, 0.5, 3, 0.25})

	rng := rand.New(rand.NewSource(4))
	checkGrad(t, pow, []*tensor.T{randT(rng, 0.5, 2, 2, 3), bcF([]float32{2})}, []int{0, 1}, 1e-3, 1e-2)
	checkGrad(t, pow, []*tensor.T{randT(rng, 0.5, 2, 2, 3), bcF([]float32{1.7})}, []int{0, 1}, 1e-3, 1e-2)
	checkGrad(t, pow, []*tensor.T{randT(rng, 0.5, 2, 2, 3), randT(rng, -1, 2, 3)}, []int{0, 1}, 1e-3, 1e-2)
	checkGrad(t, pow, []*tensor.T{randT(rng, 0.5, 2, 3, 1), randT(rng, -1, 2, 1, 4)}, []int{0, 1}, 1e-3, 1e-2)
}

func TestSumMean(t *testing.T) {
	a := bcF([]float32{1, 2, 3}, 3)
	b := bcF([]float32{10, 20}, 2, 1)
	c := bcF([]float32{100})
	sum := bcOp(t, "Sum", nil, 13)
	bcWantF(t, bcRun(t, sum, a, b, c)[0], []int{2, 3}, []float32{111, 112, 113, 121, 122, 123})
	bcWantF(t, bcRun(t, sum, a)[0], []int{3}, []float32{1, 2, 3})
	mean := bcOp(t, "Mean", nil, 13)
	bcWantF(t, bcRun(t, mean, a, b, c)[0], []int{2, 3}, []float32{37, 112.0 / 3, 113.0 / 3, 121.0 / 3, 122.0 / 3, 41})

	rng := rand.New(rand.NewSource(5))
	in := []*tensor.T{randT(rng, -1, 1, 3), randT(rng, -1, 1, 2, 1), randT(rng, -1, 1)}
	checkGrad(t, sum, in, []int{0, 1, 2}, 1e-2, 1e-2)
	checkGrad(t, mean, in, []int{0, 1, 2}, 1e-2, 1e-2)
}
