package ops

import (
	"math"
	"math/rand"
	"testing"
	"time"
)

// The Winograd transforms as they were before they were rewritten for
// Go's wasm code (one pass per tile, no intermediate copy of the tile, the
// interior rows and columns of tiles without per-tile border tests): the
// tests below check that the rewritten ones give the same bits.

func wg4InputRef(gm wgGeom, x []float32, gi, c, p0, pb, th, tw int, v []float32, vs, off int) {
	wg6InputRef(4, gm, x, gi, c, p0, pb, th, tw, v, vs, off)
}

func wg4OutputRef(gm wgGeom, y []float32, gi, k, p0, pb, th, tw int, mo []float32, ms, off int) {
	wg6OutputRef(4, gm, y, gi, k, p0, pb, th, tw, mo, ms, off)
}

func wg34InputRef(gm wgGeom, x []float32, gi, c, p0, pb, th, tw int, v []float32, vs, off int) {
	wg6InputRef(3, gm, x, gi, c, p0, pb, th, tw, v, vs, off)
}

func wg34OutputRef(gm wgGeom, y []float32, gi, k, p0, pb, th, tw int, mo []float32, ms, off int) {
	wg6OutputRef(3, gm, y, gi, k, p0, pb, th, tw, mo, ms, off)
}

// wg6InputRef is the input transform of the 6×6 tiles, m×m outputs a tile
// (F(4×4, 3×3), F(3×3, 4×4)), one tile at a time.
func wg6InputRef(m int, gm wgGeom, x []float32, gi, c, p0, pb, th, tw int, v []float32, vs, off int) {
	H, W := gm.H, gm.W
	hw := H * W
	tiles := th * tw
	n, r := p0/tiles, p0%tiles
	ty, tx := r/tw, r%tw
	var vx [36][]float32
	for xi := range vx {
		vx[xi] = v[xi*vs+off:][:pb]
	}
	plane := x[(n*gm.G*gm.Cin+gi*gm.Cin+c)*hw:][:hw]
	for q := 0; q < pb; q++ {
		iy, ix := m*ty-gm.padT, m*tx-gm.padL
		var d [36]float32
		if iy >= 0 && iy+6 <= H && ix >= 0 && ix+6 <= W {
			for i := 0; i < 6; i++ {
				row := plane[(iy+i)*W+ix:][:6]
				d[6*i], d[6*i+1], d[6*i+2], d[6*i+3], d[6*i+4], d[6*i+5] = row[0], row[1], row[2], row[3], row[4], row[5]
			}
		} else {
			for i := 0; i < 6; i++ {
				yy := iy + i
				if yy < 0 || yy >= H {
					continue
				}
				row := plane[yy*W:][:W]
				for j := 0; j < 6; j++ {
					if xx := ix + j; xx >= 0 && xx < W {
						d[6*i+j] = row[xx]
					}
				}
			}
		}
		// Bᵀ d (columns), then · B (rows).
		var t [36]float32
		for j := 0; j < 6; j++ {
			t[j], t[6+j], t[12+j], t[18+j], t[24+j], t[30+j] = wg4B(d[j], d[6+j], d[12+j], d[18+j], d[24+j], d[30+j])
		}
		for i := 0; i < 36; i += 6 {
			a0, a1, a2, a3, a4, a5 := wg4B(t[i], t[i+1], t[i+2], t[i+3], t[i+4], t[i+5])
			vx[i][q], vx[i+1][q], vx[i+2][q] = a0, a1, a2
			vx[i+3][q], vx[i+4][q], vx[i+5][q] = a3, a4, a5
		}
		if tx++; tx == tw {
			tx = 0
			if ty++; ty == th {
				ty = 0
				n++
				if q+1 < pb {
					plane = x[(n*gm.G*gm.Cin+gi*gm.Cin+c)*hw:][:hw]
				}
			}
		}
	}
}

// wg6OutputRef is the output transform of the 6×6 tiles, m×m outputs a
// tile, one tile at a time.
func wg6OutputRef(m int, gm wgGeom, y []float32, gi, k, p0, pb, th, tw int, mo []float32, ms, off int) {
	OH, OW := gm.OH, gm.OW
	ohw := OH * OW
	tiles := th * tw
	n, r := p0/tiles, p0%tiles
	ty, tx := r/tw, r%tw
	var mx [36][]float32
	for xi := range mx {
		mx[xi] = mo[xi*ms+off:][:pb]
	}
	plane := y[(n*gm.G*gm.Cout+gi*gm.Cout+k)*ohw:][:ohw]
	for q := 0; q < pb; q++ {
		// Aᵀ m (columns: 6 rows → m), then · A (rows: 6 columns → m).
		at := func(m0, m1, m2, m3, m4, m5 float32) [4]float32 {
			if m == 3 {
				a0, a1, a2 := wg34A(m0, m1, m2, m3, m4, m5)
				return [4]float32{a0, a1, a2}
			}
			a0, a1, a2, a3 := wg4A(m0, m1, m2, m3, m4, m5)
			return [4]float32{a0, a1, a2, a3}
		}
		var s [4][6]float32
		for j := 0; j < 6; j++ {
			col := at(mx[j][q], mx[6+j][q], mx[12+j][q], mx[18+j][q], mx[24+j][q], mx[30+j][q])
			for i := 0; i < m; i++ {
				s[i][j] = col[i]
			}
		}
		var o [4][4]float32
		for i := 0; i < m; i++ {
			o[i] = at(s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], s[i][5])
		}
		oy, ox := m*ty, m*tx
		for i := 0; i < m && oy+i < OH; i++ {
			row := plane[(oy+i)*OW:][:OW]
			for j := 0; j < m && ox+j < OW; j++ {
				row[ox+j] += o[i][j]
			}
		}
		if tx++; tx == tw {
			tx = 0
			if ty++; ty == th {
				ty = 0
				n++
				if q+1 < pb {
					plane = y[(n*gm.G*gm.Cout+gi*gm.Cout+k)*ohw:][:ohw]
				}
			}
		}
	}
}

func wgInputRef(gm wgGeom, x []float32, gi, c, p0, pb, th, tw int, v []float32, vs, off int) {
	H, W := gm.H, gm.W
	hw := H * W
	tiles := th * tw
	n, r := p0/tiles, p0%tiles
	ty, tx := r/tw, r%tw
	var vx [16][]float32
	for xi := range vx {
		vx[xi] = v[xi*vs+off:][:pb]
	}
	var plane []float32
	loadPlane := func() {
		plane = x[(n*gm.G*gm.Cin+gi*gm.Cin+c)*hw:][:hw]
	}
	loadPlane()
	for q := 0; q < pb; q++ {
		iy, ix := 2*ty-gm.padT, 2*tx-gm.padL
		var d [16]float32
		if iy >= 0 && iy+4 <= H && ix >= 0 && ix+4 <= W {
			r0 := plane[iy*W+ix:][:4]
			r1 := plane[(iy+1)*W+ix:][:4]
			r2 := plane[(iy+2)*W+ix:][:4]
			r3 := plane[(iy+3)*W+ix:][:4]
			d = [16]float32{r0[0], r0[1], r0[2], r0[3], r1[0], r1[1], r1[2], r1[3],
				r2[0], r2[1], r2[2], r2[3], r3[0], r3[1], r3[2], r3[3]}
		} else {
			for i := 0; i < 4; i++ {
				yy := iy + i
				if yy < 0 || yy >= H {
					continue
				}
				row := plane[yy*W:][:W]
				for j := 0; j < 4; j++ {
					if xx := ix + j; xx >= 0 && xx < W {
						d[4*i+j] = row[xx]
					}
				}
			}
		}
		// Bᵀ d (rows), then · B (columns).
		var t [16]float32
		for j := 0; j < 4; j++ {
			d0, d1, d2, d3 := d[j], d[4+j], d[8+j], d[12+j]
			t[j] = d0 - d2
			t[4+j] = d1 + d2
			t[8+j] = d2 - d1
			t[12+j] = d1 - d3
		}
		for i := 0; i < 4; i++ {
			t0, t1, t2, t3 := t[4*i], t[4*i+1], t[4*i+2], t[4*i+3]
			vx[4*i][q] = t0 - t2
			vx[4*i+1][q] = t1 + t2
			vx[4*i+2][q] = t2 - t1
			vx[4*i+3][q] = t1 - t3
		}
		if tx++; tx == tw {
			tx = 0
			if ty++; ty == th {
				ty = 0
				n++
				if q+1 < pb {
					loadPlane()
				}
			}
		}
	}
}

func wgOutputRef(gm wgGeom, y []float32, gi, k, p0, pb, th, tw int, mo []float32, ms, off int) {
	OH, OW := gm.OH, gm.OW
	ohw := OH * OW
	tiles := th * tw
	n, r := p0/tiles, p0%tiles
	ty, tx := r/tw, r%tw
	var mx [16][]float32
	for xi := range mx {
		mx[xi] = mo[xi*ms+off:][:pb]
	}
	var plane []float32
	loadPlane := func() {
		plane = y[(n*gm.G*gm.Cout+gi*gm.Cout+k)*ohw:][:ohw]
	}
	loadPlane()
	for q := 0; q < pb; q++ {
		// Aᵀ m (rows 0…3 → 2), then · A (columns).
		var s [8]float32
		for j := 0; j < 4; j++ {
			m0, m1, m2, m3 := mx[j][q], mx[4+j][q], mx[8+j][q], mx[12+j][q]
			s[j] = m0 + m1 + m2
			s[4+j] = m1 - m2 - m3
		}
		y00 := s[0] + s[1] + s[2]
		y01 := s[1] - s[2] - s[3]
		y10 := s[4] + s[5] + s[6]
		y11 := s[5] - s[6] - s[7]
		oy, ox := 2*ty, 2*tx
		if oy+2 <= OH && ox+2 <= OW {
			r0 := plane[oy*OW+ox:][:2]
			r1 := plane[(oy+1)*OW+ox:][:2]
			r0[0] += y00
			r0[1] += y01
			r1[0] += y10
			r1[1] += y11
		} else {
			plane[oy*OW+ox] += y00
			if ox+1 < OW {
				plane[oy*OW+ox+1] += y01
			}
			if oy+1 < OH {
				plane[(oy+1)*OW+ox] += y10
				if ox+1 < OW {
					plane[(oy+1)*OW+ox+1] += y11
				}
			}
		}
		if tx++; tx == tw {
			tx = 0
			if ty++; ty == th {
				ty = 0
				n++
				if q+1 < pb {
					loadPlane()
				}
			}
		}
	}
}

// wgTransformGeoms are random geometries of the transforms (pads from −1,
// as the input gradient of a convolution padded by 3 has, to 3), a few of
// them with the whole tile grid in one chunk.
func wgTransformGeoms(rng *rand.Rand, count int) []wgGeom {
	var gs []wgGeom
	for len(gs) < count {
		g := wgGeom{N: 1 + rng.Intn(3), G: 1 + rng.Intn(2), Cin: 1 + rng.Intn(4), Cout: 1 + rng.Intn(4),
			H: 1 + rng.Intn(30), W: 1 + rng.Intn(30), padT: rng.Intn(5) - 1, padL: rng.Intn(5) - 1}
		g.OH = g.H + g.padT + rng.Intn(5) - 1 - 2
		g.OW = g.W + g.padL + rng.Intn(5) - 1 - 2
		if g.OH < 1 || g.OW < 1 {
			continue
		}
		gs = append(gs, g)
	}
	return gs
}

// wgRandFill fills b with values of either sign, some of them ±0.
func wgRandFill(rng *rand.Rand, b []float32) {
	wgRandFillZeros(rng, b, 16)
}

// wgRandFillZeros fills b with ±0 (each 1/zeros of the values) and other
// values of either sign: zeros = 2 gives only signed zeros.
func wgRandFillZeros(rng *rand.Rand, b []float32, zeros int) {
	for i := range b {
		switch rng.Intn(zeros) {
		case 0:
			b[i] = 0
		case 1:
			b[i] = float32(math.Copysign(0, -1))
		default:
			b[i] = float32(rng.NormFloat64())
		}
	}
}

func firstBitDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestWgTransformsSameBits compares the input and output transforms of
// F(2×2, 3×3) and F(4×4, 3×3) with the ones they replaced, bit for bit, on
// random geometries and on random runs of tiles (as wgConv's chunks split
// the tile grid, across images).
func TestWgTransformsSameBits(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	type fns struct {
		in, inRef   func(wgGeom, []float32, int, int, int, int, int, int, []float32, int, int)
		out, outRef func(wgGeom, []float32, int, int, int, int, int, int, []float32, int, int)
	}
	for _, m := range []int{2, 3, 4} {
		// The buffers go from call to call as wgConv passes them, holding
		// NaNs at first: what the copies leave of them must not matter.
		inBuf, outBuf := make([]float32, 4096), make([]float32, 4096)
		for i := range inBuf {
			inBuf[i], outBuf[i] = float32(math.NaN()), float32(math.NaN())
		}
		in := func(gm wgGeom, x []float32, gi, c, p0, pb, th, tw int, v []float32, vs, off int) {
			inBuf = wgInputTiles(m, gm, x, gi, c, p0, pb, th, tw, v, vs, off, inBuf)
		}
		out := func(gm wgGeom, y []float32, gi, k, p0, pb, th, tw int, mo []float32, ms, off int) {
			outBuf = wgOutputTiles(m, gm, y, gi, k, p0, pb, th, tw, mo, ms, off, outBuf)
		}
		f := map[int]fns{2: {in, wgInputRef, out, wgOutputRef}, 3: {in, wg34InputRef, out, wg34OutputRef},
			4: {in, wg4InputRef, out, wg4OutputRef}}[m]
		a := wgWindow(m) * wgWindow(m)
		for gn, gm := range wgTransformGeoms(rng, 150) {
			th, tw := (gm.OH+m-1)/m, (gm.OW+m-1)/m
			total := gm.N * th * tw
			x := make([]float32, gm.N*gm.G*gm.Cin*gm.H*gm.W)
			wgRandFill(rng, x)
			for trial := 0; trial < 4; trial++ {
				// The last trial has signed zeros only (the sign of a zero
				// result must survive the border's block).
				fill := func(b []float32) { wgRandFillZeros(rng, b, map[bool]int{true: 2, false: 16}[trial == 3]) }
				if trial == 3 {
					fill(x)
				}
				p0, pb := 0, total
				if trial > 0 {
					p0 = rng.Intn(total)
					pb = 1 + rng.Intn(total-p0)
				}
				gi := rng.Intn(gm.G)
				// Input transform: every channel, off = c·pb as wgConv has it.
				vs := gm.Cin * pb
				v1 := make([]float32, a*vs)
				fill(v1)
				v2 := append([]float32(nil), v1...)
				for c := 0; c < gm.Cin; c++ {
					f.inRef(gm, x, gi, c, p0, pb, th, tw, v1, vs, c*pb)
					f.in(gm, x, gi, c, p0, pb, th, tw, v2, vs, c*pb)
				}
				if i := firstBitDiff(v2, v1); i >= 0 {
					t.Fatalf("F(%d×%d) input transform, geometry %d %+v, tiles %d+%d: value %d is %v, was %v", m, m, gn, gm, p0, pb, i, v2[i], v1[i])
				}
				// Output transform: accumulates into y.
				ms := gm.Cout * pb
				mo := make([]float32, a*ms)
				fill(mo)
				y1 := make([]float32, gm.N*gm.G*gm.Cout*gm.OH*gm.OW)
				fill(y1)
				y2 := append([]float32(nil), y1...)
				for k := 0; k < gm.Cout; k++ {
					f.outRef(gm, y1, gi, k, p0, pb, th, tw, mo, ms, k*pb)
					f.out(gm, y2, gi, k, p0, pb, th, tw, mo, ms, k*pb)
				}
				if i := firstBitDiff(y2, y1); i >= 0 {
					t.Fatalf("F(%d×%d) output transform, geometry %d %+v, tiles %d+%d: value %d is %v, was %v", m, m, gn, gm, p0, pb, i, y2[i], y1[i])
				}
			}
		}
	}
}

// BenchmarkWgTransforms times the input and output transforms on
// ResNet-18's 3×3 layers (both tile sizes where a pass takes either),
// the rewritten ones and the ones they replaced alternately (ms per layer).
func BenchmarkWgTransforms(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	for _, c := range []struct {
		name string
		C, H int
		m    int
	}{{"64_56_F4", 64, 56, 4}, {"128_28_F4", 128, 28, 4}, {"64_56_F2", 64, 56, 2}, {"128_28_F2", 128, 28, 2}, {"256_14_F2", 256, 14, 2}, {"512_7_F2", 512, 7, 2}} {
		b.Run(c.name, func(b *testing.B) {
			gm := wgGeom{N: 1, G: 1, Cin: c.C, Cout: c.C, H: c.H, W: c.H, OH: c.H, OW: c.H, padT: 1, padL: 1}
			m, a := c.m, (c.m+2)*(c.m+2)
			th, tw := (gm.OH+m-1)/m, (gm.OW+m-1)/m
			// The tiles in chunks as wgConv takes them.
			total := th * tw
			maxChunk := max(1, wgChunkFloats/(a*2*c.C))
			nchunks := (total + maxChunk - 1) / maxChunk
			pb := (total + nchunks - 1) / nchunks
			x := make([]float32, c.C*c.H*c.H)
			wgRandFill(rng, x)
			y := make([]float32, c.C*c.H*c.H)
			v := make([]float32, a*c.C*pb)
			mo := make([]float32, a*c.C*pb)
			wgRandFill(rng, mo)
			var inBuf, outBuf []float32
			in := func(gm wgGeom, x []float32, gi, c, p0, pb, th, tw int, v []float32, vs, off int) {
				inBuf = wgInputTiles(m, gm, x, gi, c, p0, pb, th, tw, v, vs, off, inBuf)
			}
			out := func(gm wgGeom, y []float32, gi, k, p0, pb, th, tw int, mo []float32, ms, off int) {
				outBuf = wgOutputTiles(m, gm, y, gi, k, p0, pb, th, tw, mo, ms, off, outBuf)
			}
			inRef, outRef := wgInputRef, wgOutputRef
			if m == 4 {
				inRef, outRef = wg4InputRef, wg4OutputRef
			}
			var tNew, tRef, oNew, oRef []float64
			timeIt := func(f func()) float64 {
				t0 := time.Now()
				f()
				return time.Since(t0).Seconds() * 1e3
			}
			for i := 0; i < b.N; i++ {
				tNew = append(tNew, timeIt(func() {
					for p0 := 0; p0 < total; p0 += pb {
						for k := 0; k < c.C; k++ {
							in(gm, x, 0, k, p0, min(pb, total-p0), th, tw, v, c.C*pb, k*pb)
						}
					}
				}))
				tRef = append(tRef, timeIt(func() {
					for p0 := 0; p0 < total; p0 += pb {
						for k := 0; k < c.C; k++ {
							inRef(gm, x, 0, k, p0, min(pb, total-p0), th, tw, v, c.C*pb, k*pb)
						}
					}
				}))
				oNew = append(oNew, timeIt(func() {
					for p0 := 0; p0 < total; p0 += pb {
						for k := 0; k < c.C; k++ {
							out(gm, y, 0, k, p0, min(pb, total-p0), th, tw, mo, c.C*pb, k*pb)
						}
					}
				}))
				oRef = append(oRef, timeIt(func() {
					for p0 := 0; p0 < total; p0 += pb {
						for k := 0; k < c.C; k++ {
							outRef(gm, y, 0, k, p0, min(pb, total-p0), th, tw, mo, c.C*pb, k*pb)
						}
					}
				}))
			}
			b.ReportMetric(median(tNew), "in-ms")
			b.ReportMetric(median(tRef), "inRef-ms")
			b.ReportMetric(median(oNew), "out-ms")
			b.ReportMetric(median(oRef), "outRef-ms")
		})
	}
}
