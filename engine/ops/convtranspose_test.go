package ops

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// convTransposeRef scatters every input pixel through the kernel, straight
// from the definition: y[n, g·Mg+m, i·s − pb + a·d] += x[n, g·Cg+c, i]·w[g·Cg+c, m, a].
func convTransposeRef(x, w, b *tensor.T, group, sh, sw, dh, dw, pt, pl int, out []int) *tensor.T {
	xs, ws := x.Shape(), w.Shape()
	N, C, H, W := xs[0], xs[1], xs[2], xs[3]
	Mg, KH, KW := ws[1], ws[2], ws[3]
	Cg, M := C/group, Mg*group
	y := tensor.New(out...)
	OH, OW := out[2], out[3]
	for n := 0; n < N; n++ {
		for m := 0; m < M; m++ {
			for i := 0; i < OH*OW; i++ {
				if b != nil {
					y.F32()[(n*M+m)*OH*OW+i] = b.F32()[m]
				}
			}
		}
		for c := 0; c < C; c++ {
			g := c / Cg
			for m := 0; m < Mg; m++ {
				for i := 0; i < H; i++ {
					for j := 0; j < W; j++ {
						for a := 0; a < KH; a++ {
							for e := 0; e < KW; e++ {
								oi, oj := i*sh-pt+a*dh, j*sw-pl+e*dw
								if oi < 0 || oi >= OH || oj < 0 || oj >= OW {
									continue
								}
								y.F32()[((n*M+g*Mg+m)*OH+oi)*OW+oj] += x.F32()[((n*C+c)*H+i)*W+j] * w.F32()[((c*Mg+m)*KH+a)*KW+e]
							}
						}
					}
				}
			}
		}
	}
	return y
}

func TestConvTranspose(t *testing.T) {
	rng := rand.New(rand.NewSource(14))
	for _, tc := range []struct {
		name             string
		C, Mg, G, KH, KW int
		sh, sw, dh, dw   int
		pads, outPad     []int64
		wantOut          []int
		autoPad          string
	}{
		{"plain", 3, 2, 1, 3, 3, 1, 1, 1, 1, nil, nil, []int{2, 2, 6, 7}, ""},
		{"stride 2 pads", 2, 3, 1, 3, 3, 2, 2, 1, 1, []int64{1, 1, 1, 1}, nil, []int{2, 3, 7, 9}, ""},
		{"output_padding", 2, 2, 1, 2, 3, 2, 3, 1, 1, []int64{0, 1, 0, 0}, []int64{1, 2}, []int{2, 2, 9, 16}, ""},
		{"groups dilation", 4, 2, 2, 2, 2, 1, 2, 2, 1, nil, nil, []int{2, 4, 6, 10}, ""},
		{"same upper", 2, 2, 1, 3, 3, 2, 2, 1, 1, nil, nil, []int{2, 2, 8, 10}, "SAME_UPPER"},
		{"same lower", 2, 2, 1, 3, 3, 2, 2, 1, 1, nil, nil, []int{2, 2, 8, 10}, "SAME_LOWER"},
	} {
		x := randT(rng, -1, 1, 2, tc.C, 4, 5)
		w := randT(rng, -1, 1, tc.C, tc.Mg, tc.KH, tc.KW)
		b := randT(rng, -1, 1, tc.Mg*tc.G)
		a := MapAttrs{"group": int64(tc.G), "strides": []int64{int64(tc.sh), int64(tc.sw)}, "dilations": []int64{int64(tc.dh), int64(tc.dw)}}
		if tc.pads != nil {
			a["pads"] = tc.pads
		}
		if tc.outPad != nil {
			a["output_padding"] = tc.outPad
		}
		if tc.autoPad != "" {
			a["auto_pad"] = tc.autoPad
		}
		op := nnOp(t, "ConvTranspose", a)
		out := nnForward(t, op, x, w, b)[0]
		if !slices.Equal(out.Shape(), tc.wantOut) {
			t.Fatalf("%s: shape %v, want %v", tc.name, out.Shape(), tc.wantOut)
		}
		pt, pl := 0, 0
		if tc.pads != nil {
			pt, pl = int(tc.pads[0]), int(tc.pads[1])
		}
		switch tc.autoPad { // total padding 1 on each axis: SAME_UPPER puts it at the end
		case "SAME_UPPER":
			pt, pl = 0, 0
		case "SAME_LOWER":
			pt, pl = 1, 1
		}
		want := convTransposeRef(x, w, b, tc.G, tc.sh, tc.sw, tc.dh, tc.dw, pt, pl, tc.wantOut)
		nnClose(t, "ConvTranspose "+tc.name, out, want, 1e-5)
		checkGrad(t, op, []*tensor.T{x, w, b}, []int{0, 1, 2}, 1e-2, 1e-2)
	}
	// 1-D.
	op := nnOp(t, "ConvTranspose", MapAttrs{"strides": []int64{3}})
	x, w := randT(rng, -1, 1, 1, 2, 5), randT(rng, -1, 1, 2, 3, 4)
	if out := nnForward(t, op, x, w)[0]; !slices.Equal(out.Shape(), []int{1, 3, 16}) {
		t.Fatalf("1-D: shape %v", out.Shape())
	}
	checkGrad(t, op, []*tensor.T{x, w}, []int{0, 1}, 1e-2, 1e-2)
	if _, err := op.Forward([]*tensor.T{x, randT(rng, -1, 1, 3, 3, 4)}); err == nil {
		t.Errorf("W with 3 input channels for X with 2 must be refused")
	}
}

// output_shape without auto_pad pads the start more, as SAME_LOWER does.
func TestConvTransposeOutputShape(t *testing.T) {
	rng := rand.New(rand.NewSource(32))
	x, w := randT(rng, -1, 1, 1, 2, 3, 3), randT(rng, -1, 1, 2, 1, 3, 3)
	op := nnOp(t, "ConvTranspose", MapAttrs{"strides": []int64{2, 2}, "output_shape": []int64{6, 6}})
	out := nnForward(t, op, x, w)[0]
	// full size 2·2 + 3 = 7, total padding 1, at the start.
	nnClose(t, "output_shape", out, convTransposeRef(x, w, nil, 1, 2, 2, 1, 1, 1, 1, []int{1, 1, 6, 6}), 1e-5)
	checkGrad(t, op, []*tensor.T{x, w}, []int{0, 1}, 1e-2, 1e-2)
}
