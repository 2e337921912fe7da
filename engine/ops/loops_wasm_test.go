//go:build wasm && !purego

package ops

import (
	"math"
	"math/rand"
	"testing"
	"time"
)

// TestClipSelLoop compares the select loop with clipGo bit for bit, NaN
// payloads included, for bounds it takes (lo < hi, lo not −0, hi not +0).
func TestClipSelLoop(t *testing.T) {
	sp := specials()
	n := 0
	for _, lo := range sp {
		for _, hi := range sp {
			if !(lo < hi) || sameF32Bits(lo, float32(math.Copysign(0, -1))) || sameF32Bits(hi, 0) {
				continue
			}
			for shift := 0; shift < 4; shift++ {
				x := append(make([]float32, shift), sp...)
				x = x[:len(x)&^3]
				got, want := make([]float32, len(x)), make([]float32, len(x))
				clipSelLoop(len(x), &x[0], &got[0], lo, hi)
				clipGo(x, want, lo, hi)
				for i := range x {
					if !sameF32Bits(got[i], want[i]) {
						t.Fatalf("clip(%v, %v, %v): select loop %v, Go %v", x[i], lo, hi, got[i], want[i])
					}
				}
				n++
			}
		}
	}
	if n < 200 {
		t.Fatalf("only %d cases", n)
	}
}

// BenchmarkClipLoops times ReLU6 on a million values with random signs:
// f32.max and f32.min with a select for NaN (clipLoop), two integer
// selects (clipSelLoop), and the plain-Go loop.
func BenchmarkClipLoops(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	x, y := make([]float32, 1<<20), make([]float32, 1<<20)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 4)
	}
	b.Run("minmax", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			clipLoop(len(x), &x[0], &y[0], 0, 6)
		}
	})
	b.Run("select", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			clipSelLoop(len(x), &x[0], &y[0], 0, 6)
		}
	})
	b.Run("go", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			clipGo(x, y, 0, 6)
		}
	})
}

// BenchmarkMaxPoolRows times ResNet's 3×3 stride-2 max pooling of a
// 64×112×112 input (the rows whose windows lie inside it): the assembly
// loop with selects and its plain-Go twin, which branches, alternately
// (ms per input).
func BenchmarkMaxPoolRows(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	const C, H, OH = 64, 112, 56
	x := make([]float32, C*H*H)
	for i := range x {
		x[i] = max(0, float32(rng.NormFloat64())) // a ReLU's output
	}
	y, idx := make([]float32, OH), make([]int64, OH)
	run := func(row func(int, []float32, int, int, []float32, []int64, int64)) float64 {
		t0 := time.Now()
		for c := 0; c < C; c++ {
			for oy := 1; oy < OH; oy++ {
				start := c*H*H + (2*oy-1)*H + 1
				row(OH-1, x[start:], H, 2, y, idx, int64(start))
			}
		}
		return time.Since(t0).Seconds() * 1e3
	}
	var asm, twin []float64
	for i := 0; i < b.N; i++ {
		asm = append(asm, run(maxPool3Row))
		twin = append(twin, run(maxPool3RowGo))
	}
	b.ReportMetric(median(asm), "asm-ms")
	b.ReportMetric(median(twin), "go-ms")
}

// TestElemLoopsMatchGo compares ReLU's forward and backward loops and
// inference BatchNorm's (the assembly for the leading multiple of eight,
// Go for the rest) with the plain-Go computation of each value, bit for
// bit (BatchNorm: a NaN for a NaN, whose payload arithmetic may pick), on
// the special values at every position and random data of every length up
// to 41.
func TestElemLoopsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	sp := specials()
	var cases [][]float32
	for shift := 0; shift < elemUnrollTest; shift++ {
		cases = append(cases, append(make([]float32, shift), sp...))
	}
	for n := 0; n <= 41; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		cases = append(cases, x)
	}
	params := [][3]float32{{0.5, 1.25, -0.75}, {-1, 3, 0}, {0, 1, float32(math.Copysign(0, -1))}}
	for ci, x := range cases {
		gy := make([]float32, len(x))
		for i := range gy {
			gy[i] = sp[(i+ci)%len(sp)]
		}
		y, gx := make([]float32, len(x)), make([]float32, len(x))
		reluF(x, y)
		reluB(x, nil, gy, gx)
		for i, v := range x {
			if want := relu32(v); !sameF32Bits(y[i], want) {
				t.Fatalf("case %d: relu(%v) = %v, want %v", ci, v, y[i], want)
			}
			if want := reluGrad(v, gy[i]); !sameF32Bits(gx[i], want) {
				t.Fatalf("case %d: relu'(%v)·%v = %v, want %v", ci, v, gy[i], gx[i], want)
			}
		}
		for _, pr := range params {
			mu, a, b := pr[0], pr[1], pr[2]
			bnAffine(y, x, mu, a, b)
			for i, v := range x {
				want := float32(float32(v-mu)*a) + b
				if !sameF32Bits(y[i], want) && !(y[i] != y[i] && want != want) {
					t.Fatalf("case %d: (%v-%v)·%v+%v = %v, want %v", ci, v, mu, a, b, y[i], want)
				}
			}
		}
	}
}

// elemUnrollTest is mkops' elemUnroll.
const elemUnrollTest = 8

// BenchmarkElemLoops times ReLU forward and backward and inference
// BatchNorm on a million values with random signs: the assembly loops
// (reluF, reluB, bnAffine) and the plain-Go loops they replaced, in turn
// (ms per million values).
func BenchmarkElemLoops(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	x, gy, y := make([]float32, 1<<20), make([]float32, 1<<20), make([]float32, 1<<20)
	for i := range x {
		x[i], gy[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	goRelu := func() {
		for i := 0; i+8 <= len(x); i += 8 {
			xs, ys := (*[8]float32)(x[i:i+8]), (*[8]float32)(y[i:i+8])
			ys[0], ys[1], ys[2], ys[3] = relu32(xs[0]), relu32(xs[1]), relu32(xs[2]), relu32(xs[3])
			ys[4], ys[5], ys[6], ys[7] = relu32(xs[4]), relu32(xs[5]), relu32(xs[6]), relu32(xs[7])
		}
	}
	goMask := func() {
		for i := 0; i+8 <= len(x); i += 8 {
			xs, gs, ds := (*[8]float32)(x[i:i+8]), (*[8]float32)(gy[i:i+8]), (*[8]float32)(y[i:i+8])
			ds[0], ds[1], ds[2], ds[3] = reluGrad(xs[0], gs[0]), reluGrad(xs[1], gs[1]), reluGrad(xs[2], gs[2]), reluGrad(xs[3], gs[3])
			ds[4], ds[5], ds[6], ds[7] = reluGrad(xs[4], gs[4]), reluGrad(xs[5], gs[5]), reluGrad(xs[6], gs[6]), reluGrad(xs[7], gs[7])
		}
	}
	mu, a, c := float32(0.1), float32(1.5), float32(-0.25)
	goBN := func() {
		for i := 0; i+8 <= len(x); i += 8 {
			xs, ys := (*[8]float32)(x[i:i+8]), (*[8]float32)(y[i:i+8])
			ys[0], ys[1], ys[2], ys[3] = (xs[0]-mu)*a+c, (xs[1]-mu)*a+c, (xs[2]-mu)*a+c, (xs[3]-mu)*a+c
			ys[4], ys[5], ys[6], ys[7] = (xs[4]-mu)*a+c, (xs[5]-mu)*a+c, (xs[6]-mu)*a+c, (xs[7]-mu)*a+c
		}
	}
	for _, c := range []struct {
		name     string
		asm, old func()
	}{
		{"relu", func() { reluF(x, y) }, goRelu},
		{"reluB", func() { reluB(x, nil, gy, y) }, goMask},
		{"bn", func() { bnAffine(y, x, mu, a, c) }, goBN},
	} {
		b.Run(c.name, func(b *testing.B) {
			var ta, tg []float64
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				c.asm()
				ta = append(ta, time.Since(t0).Seconds()*1e3)
				t0 = time.Now()
				c.old()
				tg = append(tg, time.Since(t0).Seconds()*1e3)
			}
			b.ReportMetric(median(ta), "asm-ms")
			b.ReportMetric(median(tg), "go-ms")
		})
	}
}
