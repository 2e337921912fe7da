package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// naiveIm2col is the original per-element reference implementation.
func naiveIm2col(g ConvGeom, x, col []float32) {
	ohw := g.OutH * g.OutW
	for c := 0; c < g.C; c++ {
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				row := col[((c*g.KH+ki)*g.KW+kj)*ohw:][:ohw]
				for oy := 0; oy < g.OutH; oy++ {
					iy := oy*g.StrideH - g.PadT + ki*g.DilH
					for ox := 0; ox < g.OutW; ox++ {
						ix := ox*g.StrideW - g.PadL + kj*g.DilW
						v := float32(0)
						if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
							v = x[(c*g.H+iy)*g.W+ix]
						}
						row[oy*g.OutW+ox] = v
					}
				}
			}
		}
	}
}

// naiveCol2im is the original per-element reference implementation.
func naiveCol2im(g ConvGeom, col, x []float32) {
	ohw := g.OutH * g.OutW
	for c := 0; c < g.C; c++ {
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				row := col[((c*g.KH+ki)*g.KW+kj)*ohw:][:ohw]
				for oy := 0; oy < g.OutH; oy++ {
					iy := oy*g.StrideH - g.PadT + ki*g.DilH
					if iy < 0 || iy >= g.H {
						continue
					}
					for ox := 0; ox < g.OutW; ox++ {
						ix := ox*g.StrideW - g.PadL + kj*g.DilW
						if ix >= 0 && ix < g.W {
							x[(c*g.H+iy)*g.W+ix] += row[oy*g.OutW+ox]
						}
					}
				}
			}
		}
	}
}

// geom builds a geometry with output size from the usual formula, given
// leading and trailing padding.
func geom(c, h, w, kh, kw, padT, padB, padL, padR, sh, sw, dh, dw int) ConvGeom {
	g := ConvGeom{C: c, H: h, W: w, KH: kh, KW: kw, PadT: padT, PadL: padL, StrideH: sh, StrideW: sw, DilH: dh, DilW: dw}
	g.OutH = (h+padT+padB-dh*(kh-1)-1)/sh + 1
	g.OutW = (w+padL+padR-dw*(kw-1)-1)/sw + 1
	return g
}

func testGeoms() []ConvGeom {
	var gs []ConvGeom
	for _, k := range [][2]int{{1, 1}, {3, 3}, {1, 3}, {5, 2}, {7, 7}} {
		for _, pad := range [][4]int{{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 0, 1, 3}, {3, 3, 3, 3}, {0, 2, 4, 0}} {
			for _, s := range [][2]int{{1, 1}, {2, 2}, {1, 3}, {3, 2}} {
				for _, d := range [][2]int{{1, 1}, {2, 2}, {1, 3}} {
					g := geom(2, 9, 11, k[0], k[1], pad[0], pad[1], pad[2], pad[3], s[0], s[1], d[0], d[1])
					if g.OutH > 0 && g.OutW > 0 {
						gs = append(gs, g)
					}
				}
			}
		}
	}
	gs = append(gs,
		geom(3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1),
		geom(1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
		geom(2, 2, 3, 3, 3, 5, 5, 4, 4, 1, 1, 1, 1), // padding wider than the image
		geom(1, 5, 5, 5, 5, 0, 0, 0, 0, 1, 1, 1, 1), // single output position
		geom(3, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
		geom(3, 15, 17, 7, 7, 3, 3, 3, 3, 2, 2, 1, 1),
		geom(4, 8, 8, 2, 2, 0, 0, 0, 0, 2, 2, 1, 1), // pooling-like
		geom(2, 7, 7, 3, 3, 0, 0, 0, 0, 4, 4, 1, 1), // stride > kernel
	)
	return gs
}

func geomString(g ConvGeom) string {
	return fmt.Sprintf("C%d_%dx%d_k%dx%d_p%d,%d_s%d,%d_d%d,%d_o%dx%d", g.C, g.H, g.W, g.KH, g.KW, g.PadT, g.PadL, g.StrideH, g.StrideW, g.DilH, g.DilW, g.OutH, g.OutW)
}

func TestIm2col(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, g := range testGeoms() {
		x := randSlice(r, g.C*g.H*g.W)
		n := g.C * g.KH * g.KW * g.OutH * g.OutW
		got, want := randSlice(r, n), make([]float32, n) // got starts as garbage
		naiveIm2col(g, x, want)
		Im2col(g, x, got)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: col[%d] = %v, want %v", geomString(g), i, got[i], want[i])
				break
			}
		}
	}
}

// TestIm2colRows fills the matrix in three row ranges, as goroutines do,
// and checks it against the naive unrolling.
func TestIm2colRows(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, g := range testGeoms() {
		if g.StrideH <= 0 || g.StrideW <= 0 {
			continue
		}
		x := randSlice(r, g.C*g.H*g.W)
		rows := g.C * g.KH * g.KW
		n := rows * g.OutH * g.OutW
		got, want := randSlice(r, n), make([]float32, n)
		naiveIm2col(g, x, want)
		a, b := rows/3, 2*rows/3+1
		Im2colRows(g, x, got, b, rows)
		Im2colRows(g, x, got, 0, a)
		Im2colRows(g, x, got, a, min(b, rows))
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: col[%d] = %v, want %v", geomString(g), i, got[i], want[i])
				break
			}
		}
	}
}

func TestCol2im(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, g := range testGeoms() {
		col := randSlice(r, g.C*g.KH*g.KW*g.OutH*g.OutW)
		got := randSlice(r, g.C*g.H*g.W) // Col2im accumulates
		want := append([]float32(nil), got...)
		naiveCol2im(g, col, want)
		Col2im(g, col, got)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: x[%d] = %v, want %v", geomString(g), i, got[i], want[i])
				break
			}
		}
	}
}

// TestIm2colAdjoint checks <Im2col(x), y> == <x, Col2im(y)>.
func TestIm2colAdjoint(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for _, g := range testGeoms() {
		x := randSlice(r, g.C*g.H*g.W)
		y := randSlice(r, g.C*g.KH*g.KW*g.OutH*g.OutW)
		col := make([]float32, len(y))
		Im2col(g, x, col)
		xt := make([]float32, len(x))
		Col2im(g, y, xt)
		var lhs, rhs, mag float64
		for i := range y {
			lhs += float64(col[i]) * float64(y[i])
			mag += math.Abs(float64(col[i]) * float64(y[i]))
		}
		for i := range x {
			rhs += float64(x[i]) * float64(xt[i])
		}
		if math.Abs(lhs-rhs) > 1e-5*mag+1e-9 {
			t.Errorf("%s: <Im2col(x),y> = %v, <x,Col2im(y)> = %v", geomString(g), lhs, rhs)
		}
	}
}

func TestIm2colNeeded(t *testing.T) {
	for _, tc := range []struct {
		g    ConvGeom
		want bool
	}{
		{geom(8, 5, 6, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1), false},
		{geom(8, 5, 6, 1, 1, 0, 0, 0, 0, 1, 1, 2, 2), false}, // dilation is irrelevant for 1×1
		{geom(8, 5, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), true},
		{geom(8, 5, 6, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1), true}, // trailing padding only
		{geom(8, 5, 6, 1, 1, 0, 0, 0, 0, 2, 2, 1, 1), true},
		{geom(8, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), true},
		{geom(8, 5, 6, 1, 3, 0, 0, 1, 1, 1, 1, 1, 1), true},
	} {
		if got := Im2colNeeded(tc.g); got != tc.want {
			t.Errorf("%s: Im2colNeeded = %v, want %v", geomString(tc.g), got, tc.want)
		}
		if !tc.want {
			// When not needed, Im2col must be the identity on x.
			x := randSlice(rand.New(rand.NewSource(7)), tc.g.C*tc.g.H*tc.g.W)
			col := make([]float32, len(x))
			Im2col(tc.g, x, col)
			for i := range x {
				if col[i] != x[i] {
					t.Fatalf("%s: Im2col is not the identity", geomString(tc.g))
				}
			}
		}
	}
}

// reportCPUThroughput reports "cpu-MB/s": bytes of col written (or read)
// per CPU-second, less sensitive to other load than the wall-clock MB/s.
func reportCPUThroughput(b *testing.B, bytes, cpu0 float64) {
	if cpu0 >= 0 {
		if d := processCPUSeconds() - cpu0; d > 0 {
			b.ReportMetric(bytes/d/1e6, "cpu-MB/s")
		}
	}
}

// BenchmarkIm2col covers ResNet-18's convolutions (stem 7×7/2, 3×3/1 and
// 3×3/2 layers) and the matching Col2im.
func BenchmarkIm2col(b *testing.B) {
	for _, tc := range []struct {
		name string
		g    ConvGeom
	}{
		{"conv1_3x224x224_k7s2", geom(3, 224, 224, 7, 7, 3, 3, 3, 3, 2, 2, 1, 1)},
		{"l1_64x56x56_k3s1", geom(64, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)},
		{"l2_64x56x56_k3s2", geom(64, 56, 56, 3, 3, 1, 1, 1, 1, 2, 2, 1, 1)},
		{"l3_256x14x14_k3s1", geom(256, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)},
		{"l4_512x7x7_k3s1", geom(512, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)},
	} {
		g := tc.g
		x := randSlice(rand.New(rand.NewSource(8)), g.C*g.H*g.W)
		col := make([]float32, g.C*g.KH*g.KW*g.OutH*g.OutW)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(4 * len(col)))
			cpu0 := processCPUSeconds()
			for i := 0; i < b.N; i++ {
				Im2col(g, x, col)
			}
			reportCPUThroughput(b, float64(4*len(col)*b.N), cpu0)
		})
		b.Run("col2im_"+tc.name, func(b *testing.B) {
			b.SetBytes(int64(4 * len(col)))
			cpu0 := processCPUSeconds()
			for i := 0; i < b.N; i++ {
				Col2im(g, col, x)
			}
			reportCPUThroughput(b, float64(4*len(col)*b.N), cpu0)
		})
	}
}

// TestStridedCopies checks gatherStrided and scatterAddStrided against
// plain loops for every length up to 70 and strides 1 to 3 (the unrolled
// stride-2 paths and their tails), bit for bit.
func TestStridedCopies(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for stride := 1; stride <= 3; stride++ {
		for n := 0; n <= 70; n++ {
			src := make([]float32, n*stride+3)
			for i := range src {
				src[i] = float32(rng.NormFloat64())
			}
			d := make([]float32, n)
			gatherStrided(d, src, stride)
			for i := range d {
				if math.Float32bits(d[i]) != math.Float32bits(src[i*stride]) {
					t.Fatalf("gather stride %d n %d: d[%d] = %v, want %v", stride, n, i, d[i], src[i*stride])
				}
			}
			acc, want := append([]float32(nil), src...), append([]float32(nil), src...)
			scatterAddStrided(acc, d, stride)
			for i, v := range d {
				want[i*stride] += v
			}
			for i := range acc {
				if math.Float32bits(acc[i]) != math.Float32bits(want[i]) {
					t.Fatalf("scatter stride %d n %d: [%d] = %v, want %v", stride, n, i, acc[i], want[i])
				}
			}
		}
	}
}
