package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// convRef is a direct-loop 2-D convolution: x N×C×H×W, w M×(C/group)×KH×KW,
// pads [top, left, bottom, right].
func convRef(x, w, b *tensor.T, strides, pads, dils []int, group int) *tensor.T {
	xs, ws := x.Shape(), w.Shape()
	N, C, H, W := xs[0], xs[1], xs[2], xs[3]
	M, Cg, KH, KW := ws[0], ws[1], ws[2], ws[3]
	OH := (H+pads[0]+pads[2]-(KH-1)*dils[0]-1)/strides[0] + 1
	OW := (W+pads[1]+pads[3]-(KW-1)*dils[1]-1)/strides[1] + 1
	y := tensor.New(N, M, OH, OW)
	Mg := M / group
	for n := 0; n < N; n++ {
		for m := 0; m < M; m++ {
			g := m / Mg
			for oy := 0; oy < OH; oy++ {
				for ox := 0; ox < OW; ox++ {
					var s float64
					if b != nil {
						s = float64(b.F32()[m])
					}
					for c := 0; c < Cg; c++ {
						ic := g*Cg + c
						for ki := 0; ki < KH; ki++ {
							for kj := 0; kj < KW; kj++ {
								iy := oy*strides[0] - pads[0] + ki*dils[0]
								ix := ox*strides[1] - pads[1] + kj*dils[1]
								if iy < 0 || iy >= H || ix < 0 || ix >= W {
									continue
								}
								s += float64(x.F32()[((n*C+ic)*H+iy)*W+ix]) * float64(w.F32()[((m*Cg+c)*KH+ki)*KW+kj])
							}
						}
					}
					y.F32()[((n*M+m)*OH+oy)*OW+ox] = float32(s)
				}
			}
		}
	}
	return y
}

func nnClose(t *testing.T, what string, got, want *tensor.T, tol float64) {
	t.Helper()
	if !tensor.SameShape(got.Shape(), want.Shape()) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
	}
	g, w := got.F32(), want.F32()
	for i := range w {
		if d := math.Abs(float64(g[i]) - float64(w[i])); d > tol*(1+math.Abs(float64(w[i]))) || math.IsNaN(float64(g[i])) {
			t.Fatalf("%s: [%d] = %g, want %g", what, i, g[i], w[i])
		}
	}
}

func nnOp(t *testing.T, typ string, a MapAttrs) Op {
	t.Helper()
	op, err := New(typ, a, 17)
	if err != nil {
		t.Fatalf("New(%s): %v", typ, err)
	}
	return op
}

func nnForward(t *testing.T, op Op, in ...*tensor.T) []*tensor.T {
	t.Helper()
	out, err := op.Forward(in)
	if err != nil {
		t.Fatalf("%s forward: %v", op.Type(), err)
	}
	return out
}

type convCase struct {
	name              string
	N, C, H, W        int
	M, KH, KW         int
	strides, pads     []int // pads resolved [t, l, b, r] for the reference
	dils              []int
	group             int
	bias              bool
	autoPad           string // when set, the op gets auto_pad instead of pads
	omitKernelAttr    bool
	expectOH, expectW int // 0: not checked
}

var convCases = []convCase{
	{name: "3x3 pad1", N: 2, C: 3, H: 6, W: 5, M: 4, KH: 3, KW: 3, strides: []int{1, 1}, pads: []int{1, 1, 1, 1}, dils: []int{1, 1}, group: 1, bias: true},
	{name: "stride2 asym pads", N: 1, C: 2, H: 7, W: 6, M: 3, KH: 3, KW: 3, strides: []int{2, 2}, pads: []int{0, 1, 2, 1}, dils: []int{1, 1}, group: 1, bias: true},
	{name: "dilation2", N: 1, C: 2, H: 7, W: 7, M: 2, KH: 3, KW: 3, strides: []int{1, 1}, pads: []int{2, 2, 2, 2}, dils: []int{2, 2}, group: 1, bias: true},
	{name: "rect kernel mixed", N: 2, C: 2, H: 6, W: 8, M: 3, KH: 3, KW: 2, strides: []int{2, 1}, pads: []int{1, 0, 0, 1}, dils: []int{1, 2}, group: 1, bias: false, omitKernelAttr: true},
	{name: "groups2", N: 2, C: 4, H: 5, W: 5, M: 6, KH: 3, KW: 3, strides: []int{1, 1}, pads: []int{1, 1, 1, 1}, dils: []int{1, 1}, group: 2, bias: true},
	{name: "depthwise", N: 2, C: 3, H: 6, W: 6, M: 3, KH: 3, KW: 3, strides: []int{1, 1}, pads: []int{1, 1, 1, 1}, dils: []int{1, 1}, group: 3, bias: true},
	{name: "depthwise mult2 stride2", N: 1, C: 3, H: 7, W: 6, M: 6, KH: 3, KW: 3, strides: []int{2, 2}, pads: []int{1, 0, 1, 2}, dils: []int{1, 1}, group: 3, bias: false},
	{name: "depthwise dil2", N: 1, C: 2, H: 7, W: 7, M: 2, KH: 3, KW: 3, strides: []int{1, 2}, pads: []int{2, 2, 2, 2}, dils: []int{2, 2}, group: 2, bias: true},
	{name: "no bias", N: 1, C: 3, H: 5, W: 5, M: 2, KH: 3, KW: 3, strides: []int{1, 1}, pads: []int{0, 0, 0, 0}, dils: []int{1, 1}, group: 1, bias: false},
	{name: "1x1", N: 2, C: 4, H: 4, W: 3, M: 5, KH: 1, KW: 1, strides: []int{1, 1}, pads: []int{0, 0, 0, 0}, dils: []int{1, 1}, group: 1, bias: true},
	{name: "1x1 no bias grouped", N: 1, C: 4, H: 3, W: 3, M: 4, KH: 1, KW: 1, strides: []int{1, 1}, pads: []int{0, 0, 0, 0}, dils: []int{1, 1}, group: 2, bias: false},
	{name: "1x1 stride2", N: 1, C: 3, H: 5, W: 5, M: 2, KH: 1, KW: 1, strides: []int{2, 2}, pads: []int{0, 0, 0, 0}, dils: []int{1, 1}, group: 1, bias: true},
	{name: "7x7 stride2 pad3", N: 1, C: 3, H: 9, W: 10, M: 2, KH: 7, KW: 7, strides: []int{2, 2}, pads: []int{3, 3, 3, 3}, dils: []int{1, 1}, group: 1, bias: false},
	// auto_pad: in 7, k 4, s 2 → out 4, total pad (4-1)·2+4-7 = 3: UPPER 1/2, LOWER 2/1.
	{name: "SAME_UPPER", N: 1, C: 2, H: 7, W: 7, M: 2, KH: 4, KW: 4, strides: []int{2, 2}, pads: []int{1, 1, 2, 2}, dils: []int{1, 1}, group: 1, bias: true, autoPad: "SAME_UPPER", expectOH: 4, expectW: 4},
	{name: "SAME_LOWER", N: 1, C: 2, H: 7, W: 7, M: 2, KH: 4, KW: 4, strides: []int{2, 2}, pads: []int{2, 2, 1, 1}, dils: []int{1, 1}, group: 1, bias: true, autoPad: "SAME_LOWER", expectOH: 4, expectW: 4},
	{name: "VALID", N: 1, C: 2, H: 7, W: 8, M: 2, KH: 3, KW: 3, strides: []int{2, 2}, pads: []int{0, 0, 0, 0}, dils: []int{1, 1}, group: 1, bias: true, autoPad: "VALID", expectOH: 3, expectW: 3},
}

func (c convCase) build(rng *rand.Rand) (Op, []*tensor.T, error) {
	a := MapAttrs{
		"strides":   []int64{int64(c.strides[0]), int64(c.strides[1])},
		"dilations": []int64{int64(c.dils[0]), int64(c.dils[1])},
		"group":     int64(c.group),
	}
	if !c.omitKernelAttr {
		a["kernel_shape"] = []int64{int64(c.KH), int64(c.KW)}
	}
	if c.autoPad != "" {
		a["auto_pad"] = c.autoPad
	} else {
		a["pads"] = []int64{int64(c.pads[0]), int64(c.pads[1]), int64(c.pads[2]), int64(c.pads[3])}
	}
	op, err := New("Conv", a, 11)
	if err != nil {
		return nil, nil, err
	}
	in := []*tensor.T{
		randT(rng, -1, 1, c.N, c.C, c.H, c.W),
		randT(rng, -1, 1, c.M, c.C/c.group, c.KH, c.KW),
	}
	if c.bias {
		in = append(in, randT(rng, -1, 1, c.M))
	}
	return op, in, nil
}

func TestConvForward(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, c := range convCases {
		t.Run(c.name, func(t *testing.T) {
			op, in, err := c.build(rng)
			if err != nil {
				t.Fatal(err)
			}
			out := nnForward(t, op, in...)
			var b *tensor.T
			if c.bias {
				b = in[2]
			}
			want := convRef(in[0], in[1], b, c.strides, c.pads, c.dils, c.group)
			if c.expectOH != 0 && (want.Shape()[2] != c.expectOH || want.Shape()[3] != c.expectW) {
				t.Fatalf("reference output %v, expected %d×%d", want.Shape(), c.expectOH, c.expectW)
			}
			nnClose(t, c.name, out[0], want, 1e-4)
		})
	}
}

func TestConvGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, c := range convCases {
		t.Run(c.name, func(t *testing.T) {
			op, in, err := c.build(rng)
			if err != nil {
				t.Fatal(err)
			}
			wrt := []int{0, 1}
			if c.bias {
				wrt = append(wrt, 2)
			}
			checkGrad(t, op, in, wrt, 1e-2, 1e-2)
			// Each gradient alone must equal the one computed together.
			out := nnForward(t, op, in...)
			gy := randT(rng, -1, 1, out[0].Shape()...)
			all, err := op.Backward(in, out, []*tensor.T{gy}, []bool{true, true, c.bias})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range wrt {
				need := make([]bool, len(in))
				need[k] = true
				one, err := op.Backward(in, out, []*tensor.T{gy}, need)
				if err != nil {
					t.Fatal(err)
				}
				for j := range one {
					if (j == k) != (one[j] != nil) {
						t.Fatalf("need only %d: grad %d nil=%v", k, j, one[j] == nil)
					}
				}
				nnClose(t, "single grad", one[k], all[k], 1e-5)
			}
		})
	}
}

func TestConv1D(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	x := randT(rng, -1, 1, 2, 3, 9)
	w := randT(rng, -1, 1, 4, 3, 3)
	b := randT(rng, -1, 1, 4)
	op := nnOp(t, "Conv", MapAttrs{"strides": []int64{2}, "pads": []int64{1, 2}, "dilations": []int64{2}})
	out := nnForward(t, op, x, w, b)
	x4, _ := x.Reshape(2, 3, 1, 9)
	w4, _ := w.Reshape(4, 3, 1, 3)
	want := convRef(x4, w4, b, []int{1, 2}, []int{0, 1, 0, 2}, []int{1, 2}, 1)
	want3, _ := want.Reshape(want.Shape()[0], want.Shape()[1], want.Shape()[3])
	nnClose(t, "conv1d", out[0], want3, 1e-4)
	checkGrad(t, op, []*tensor.T{x, w, b}, []int{0, 1, 2}, 1e-2, 1e-2)
}

func TestConvErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	op := nnOp(t, "Conv", MapAttrs{"group": int64(2)})
	if _, err := op.Forward([]*tensor.T{randT(rng, 0, 1, 1, 3, 4, 4), randT(rng, 0, 1, 2, 1, 3, 3)}); err == nil {
		t.Fatal("3 channels in 2 groups accepted")
	}
	op = nnOp(t, "Conv", MapAttrs{"kernel_shape": []int64{2, 2}})
	if _, err := op.Forward([]*tensor.T{randT(rng, 0, 1, 1, 1, 4, 4), randT(rng, 0, 1, 1, 1, 3, 3)}); err == nil {
		t.Fatal("kernel_shape mismatch accepted")
	}
	if _, err := New("Conv", MapAttrs{"auto_pad": "SAME"}, 11); err == nil {
		t.Fatal("bad auto_pad accepted")
	}
}
