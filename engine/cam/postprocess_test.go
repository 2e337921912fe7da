package cam

import (
	"math"
	"math/rand"
	"testing"
)

// aggregateRef is aggregate as pytorch-grad-cam's aggregate_multi_layers
// reads, written plainly: the positive parts summed over the layers,
// divided by their number (not for one), then MinMax per image.
func aggregateRef(perLayer [][]float32, n, hw int) []float32 {
	out := make([]float32, n*hw)
	for _, maps := range perLayer {
		for i, v := range maps {
			if v > 0 {
				out[i] += v
			}
		}
	}
	if len(perLayer) > 1 {
		for i := range out {
			out[i] /= float32(len(perLayer))
		}
	}
	for b := 0; b < n; b++ {
		MinMax(out[b*hw : (b+1)*hw])
	}
	return out
}

// specials are values a map may hold at its edges.
var specials = []float32{0, float32(math.Copysign(0, -1)), 1, -1, 1e-7, 1e-30, 1e-45, -1e-45,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), -float32(math.NaN()),
	math.MaxFloat32, -math.MaxFloat32, 0.5, 3e38,
	math.Float32frombits(0x7f800001), math.Float32frombits(0xff800001), math.Float32frombits(0x7fffffff)}

func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// aggregate (its positive parts and MinMax in two passes) gives the plain
// computation's bits: random maps of one and several layers and images,
// with zeros, negative zeros, NaN, infinities, subnormals and constant
// maps mixed in.
func TestAggregateMatchesPlain(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for trial := 0; trial < 400; trial++ {
		n, hw, layers := 1+rng.Intn(3), 1+rng.Intn(60), 1+rng.Intn(3)
		if trial%4 == 0 {
			layers = 1
		}
		constant := trial%9 == 0
		var perLayer [][]float32
		for l := 0; l < layers; l++ {
			m := make([]float32, n*hw)
			scale := float32(math.Pow(10, float64(rng.Intn(12)-6)))
			for i := range m {
				m[i] = (float32(rng.Float64()) - 0.3) * scale
				if constant {
					m[i] = scale
				}
				if rng.Intn(10) == 0 {
					m[i] = specials[rng.Intn(len(specials))]
				}
			}
			perLayer = append(perLayer, m)
		}
		copies := make([][]float32, len(perLayer))
		for l, m := range perLayer {
			copies[l] = append([]float32(nil), m...)
		}
		want := aggregateRef(copies, n, hw)
		got := aggregate(perLayer, n, hw)
		if i := sameBits(got, want); i >= 0 {
			t.Fatalf("trial %d (%d layers, %d×%d): value %d is %v (%#x), want %v (%#x)", trial, layers, n, hw, i,
				got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
	// Every pair of special values, alone and with each other.
	for _, a := range specials {
		for _, b := range specials {
			for _, c := range specials {
				in := []float32{a, b, c}
				want := aggregateRef([][]float32{append([]float32(nil), in...)}, 1, 3)
				if got := aggregate([][]float32{in}, 1, 3); sameBits(got, want) >= 0 {
					t.Errorf("%v, %v, %v: got %v, want %v", a, b, c, got, want)
				}
			}
		}
	}
}

// gramRows gives the bits of the plain one-dot-at-a-time Gram matrix,
// for row counts on both sides of a multiple of four.
func TestGramRowsMatchesPlain(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	for _, n := range []int{1, 3, 4, 5, 8, 13, 49} {
		for _, c := range []int{1, 7, 64, 513} {
			m := make([]float64, n*c)
			for i := range m {
				m[i] = rng.NormFloat64() * math.Pow(10, float64(rng.Intn(9)-4))
			}
			got := gramRows(m, n, c)
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for k := 0; k < c; k++ {
						s += m[i*c+k] * m[j*c+k]
					}
					if math.Float64bits(got[i*n+j]) != math.Float64bits(s) && i <= j {
						t.Fatalf("%d×%d: g[%d][%d] = %v, want %v", n, c, i, j, got[i*n+j], s)
					}
					if got[i*n+j] != got[j*n+i] {
						t.Fatalf("%d×%d: not symmetric at %d, %d", n, c, i, j)
					}
				}
			}
		}
	}
}
