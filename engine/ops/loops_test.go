package ops

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// specials are the float32 values whose rounding, sign or NaN-ness an
// element loop could get wrong.
func specials() []float32 {
	nz := float32(math.Copysign(0, -1))
	inf := float32(math.Inf(1))
	return []float32{0, nz, float32(math.NaN()), math.Float32frombits(0x7fc01234), math.Float32frombits(0xffa00001),
		math.Float32frombits(0x7f800001), inf, -inf, 1, -1, 6, 6.0000005, 5.9999995, 3, -7, 1e-40, -1e-40,
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}
}

// sameF32Bits reports whether a and b have the same bits.
func sameF32Bits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

// TestClipFiniteMatchesGo compares clipFinite (in wasm, the assembly of
// loops_wasm.s) with its plain-Go twin clipGo bit for bit, NaN payloads
// included: every special value against every pair of special bounds that
// are numbers, at every position of a group of four, and random data of
// every length up to 41 around the bounds of ReLU6.
func TestClipFiniteMatchesGo(t *testing.T) {
	sp := specials()
	var bounds []float32
	for _, v := range sp {
		if v == v {
			bounds = append(bounds, v)
		}
	}
	check := func(x []float32, lo, hi float32) {
		t.Helper()
		got, want := make([]float32, len(x)), make([]float32, len(x))
		clipFinite(x, got, lo, hi)
		clipGo(x, want, lo, hi)
		for i := range x {
			if !sameF32Bits(got[i], want[i]) {
				t.Fatalf("clip(%v (bits %08x), %v, %v) = bits %08x, the Go loop gives %08x", x[i], math.Float32bits(x[i]), lo, hi, math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
	}
	n := 0
	for _, lo := range bounds {
		for _, hi := range bounds {
			for shift := 0; shift < 4; shift++ {
				x := append(make([]float32, shift), sp...)
				check(x, lo, hi)
				n++
			}
		}
	}
	rng := rand.New(rand.NewSource(3))
	for l := 0; l <= 41; l++ {
		x := make([]float32, l)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 4)
			if rng.Intn(5) == 0 {
				x[i] = sp[rng.Intn(len(sp))]
			}
		}
		check(x, 0, 6)
		check(x, -1, 1)
		n++
	}
	if n < 1000 {
		t.Fatalf("only %d cases", n)
	}
}

// TestDw3RowMatchesGo compares the 3×3 depthwise row loops (in wasm, the assembly of
// loops_wasm.s) with their plain-Go twins bit for bit, on random
// rows with special values mixed in, strides 1 to 3 and lengths 1 to 20. A
// NaN must be a NaN in both, but its bits may differ where two NaNs meet in
// one addition: wasm leaves the payload of an arithmetic NaN open, and V8
// picks either operand's (the plain-Go loop's own NaNs change with the
// order V8 gives the operands).
func TestDw3RowMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	sp := specials()
	val := func() float32 {
		if rng.Intn(8) == 0 {
			return sp[rng.Intn(len(sp))]
		}
		return float32(rng.NormFloat64())
	}
	cases := 0
	for sx := 1; sx <= 3; sx++ {
		for n := 1; n <= 20; n++ {
			var rows [3][]float32
			for r := range rows {
				rows[r] = make([]float32, (n-1)*sx+3)
				for i := range rows[r] {
					rows[r][i] = val()
				}
			}
			var w [9]float32
			for i := range w {
				w[i] = val()
			}
			y0 := make([]float32, n)
			for i := range y0 {
				y0[i] = val()
			}
			for _, f := range dw3Loops {
				rows := rows
				for r := range rows {
					if !slices.Contains(f.rows, r) {
						rows[r] = nil // a row the loop must not read
					}
				}
				got, want := append([]float32(nil), y0...), append([]float32(nil), y0...)
				f.asm(n, rows[0], rows[1], rows[2], got, sx, &w)
				f.twin(n, rows[0], rows[1], rows[2], want, sx, &w)
				for i := range want {
					if !sameF32Bits(got[i], want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
						t.Fatalf("%s, stride %d, %d outputs: output %d is %v (bits %08x), the Go loop gives %v (bits %08x)", f.name, sx, n, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
				cases++
			}
		}
	}
	if cases != 60*len(dw3Loops) || len(dw3Loops) != 6 {
		t.Fatalf("%d cases", cases)
	}
}

// TestClipMaskMatchesGo compares clipMask (in wasm, the assembly of
// loops_wasm.s) with its plain-Go twin clipMaskGo bit for bit, and Clip's
// backward through it (bounds needing no gradient) with the general loop
// (bounds needing one): every special value of x and of the gradient,
// NaN payloads included, at every position of a group of four, for every
// pair of special bounds lo < hi; and random data of every length up to 41.
func TestClipMaskMatchesGo(t *testing.T) {
	sp := specials()
	op := &clipOp{}
	check := func(x, gy []float32, lo, hi float32) {
		t.Helper()
		got, want := make([]float32, len(x)), make([]float32, len(x))
		clipMask(x, gy, got, lo, hi)
		clipMaskGo(x, gy, want, lo, hi)
		in := []*tensor.T{tensor.FromF32(x, len(x)), tensor.FromF32([]float32{lo}), tensor.FromF32([]float32{hi})}
		gOut := []*tensor.T{tensor.FromF32(gy, len(x))}
		fast, err := op.Backward(in, nil, gOut, []bool{true, false, false})
		if err != nil {
			t.Fatal(err)
		}
		general, err := op.Backward(in, nil, gOut, []bool{true, true, true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range x {
			f, g := fast[0].F32()[i], general[0].F32()[i]
			if !sameF32Bits(got[i], want[i]) || !sameF32Bits(f, g) || !sameF32Bits(f, got[i]) {
				t.Fatalf("x %v, gy bits %08x, bounds %v, %v: clipMask %08x, clipMaskGo %08x, Backward %08x, general Backward %08x",
					x[i], math.Float32bits(gy[i]), lo, hi, math.Float32bits(got[i]), math.Float32bits(want[i]), math.Float32bits(f), math.Float32bits(g))
			}
		}
	}
	n := 0
	for _, lo := range sp {
		for _, hi := range sp {
			if !(lo < hi) {
				continue
			}
			for shift := 0; shift < 4; shift++ {
				for _, g := range sp {
					x := append(make([]float32, shift), sp...)
					gy := make([]float32, len(x))
					for i := range gy {
						gy[i] = g
						if i%3 == 0 {
							gy[i] = sp[(i+shift)%len(sp)]
						}
					}
					check(x, gy, lo, hi)
					n++
				}
			}
		}
	}
	rng := rand.New(rand.NewSource(4))
	for l := 1; l <= 41; l++ {
		x, gy := make([]float32, l), make([]float32, l)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 4)
			gy[i] = float32(rng.NormFloat64())
		}
		check(x, gy, 0, 6)
		n++
	}
	if n < 1000 {
		t.Fatalf("only %d cases", n)
	}
}

// TestFillF32 checks fillF32 at every length up to 70 (around the powers of
// two of its copies), with a NaN payload and −0: every element has v's bits,
// nothing past the slice is touched.
func TestFillF32(t *testing.T) {
	for _, v := range []float32{math.Float32frombits(0x7fc01234), float32(math.Copysign(0, -1)), 1.5} {
		for n := 0; n <= 70; n++ {
			buf := make([]float32, n+1)
			buf[n] = 7
			fillF32(buf[:n], v)
			for i := 0; i < n; i++ {
				if !sameF32Bits(buf[i], v) {
					t.Fatalf("fill %d with bits %08x: element %d has %08x", n, math.Float32bits(v), i, math.Float32bits(buf[i]))
				}
			}
			if buf[n] != 7 {
				t.Fatalf("fill %d wrote past the end", n)
			}
		}
	}
}
