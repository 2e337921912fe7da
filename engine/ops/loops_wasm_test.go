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
