package ops

// depthwise3x3 is depthwiseForward for 3×3 kernels without dilation (the
// depthwise layers of MobileNets): each output element takes its nine taps
// at once, in the same order as the tap-by-tap sweep (kernel row, then
// column; taps in the padding skipped), added to the same starting value
// (zero or the bias), so the sums are bit for bit depthwiseForward's; the
// output is read and written once instead of nine times. Interior elements
// of rows with all three input rows present take the unrolled path.
func depthwise3x3(p *convPlan, x, w, y []float32) {
	g := p.g
	H, W, OH, OW := g.H, g.W, g.OutH, g.OutW
	sy, sx, pt, pl := g.StrideH, g.StrideW, g.PadT, g.PadL
	// Columns whose three taps all lie inside the input.
	oxa := min(OW, (pl+sx-1)/sx)
	oxb := oxa
	if W-3+pl >= 0 {
		oxb = max(oxa, min(OW, (W-3+pl)/sx+1))
	}
	// edge computes one output element tap by tap.
	edge := func(xp, wp []float32, yr []float32, iy0, ox int) {
		s := yr[ox]
		for ki := 0; ki < 3; ki++ {
			iy := iy0 + ki
			if iy < 0 || iy >= H {
				continue
			}
			xr := xp[iy*W : (iy+1)*W]
			for kj := 0; kj < 3; kj++ {
				if ix := ox*sx - pl + kj; ix >= 0 && ix < W {
					s += wp[ki*3+kj] * xr[ix]
				}
			}
		}
		yr[ox] = s
	}
	for n := 0; n < p.N; n++ {
		for c := 0; c < p.C; c++ {
			xp := x[(n*p.C+c)*p.hw:][:p.hw]
			for j := 0; j < p.Mg; j++ {
				m := c*p.Mg + j
				wp := w[m*9:][:9]
				wk := (*[9]float32)(wp)
				yp := y[(n*p.M+m)*p.ohw:][:p.ohw]
				for oy := 0; oy < OH; oy++ {
					iy0 := oy*sy - pt
					yr := yp[oy*OW : (oy+1)*OW]
					for ox := 0; ox < oxa; ox++ {
						edge(xp, wp, yr, iy0, ox)
					}
					if iy0 >= 0 && iy0+2 < H {
						x0 := xp[iy0*W : (iy0+1)*W]
						x1 := xp[(iy0+1)*W : (iy0+2)*W]
						x2 := xp[(iy0+2)*W : (iy0+3)*W]
						if ix := oxa*sx - pl; oxb > oxa {
							dw3Row(oxb-oxa, x0[ix:], x1[ix:], x2[ix:], yr[oxa:oxb], sx, wk)
						}
					} else {
						for ox := oxa; ox < oxb; ox++ {
							edge(xp, wp, yr, iy0, ox)
						}
					}
					for ox := oxb; ox < OW; ox++ {
						edge(xp, wp, yr, iy0, ox)
					}
				}
			}
		}
	}
}

// dw3RowGo sets y[i] += the nine taps of output i, for i < n, whose input
// columns start at i·sx in the rows x0, x1, x2, in the order of
// depthwise3x3 (row by row, column by column, each product added to the
// sum on its own). dw3Row is this, in wasm assembly in wasm
// (loops_wasm.s).
func dw3RowGo(n int, x0, x1, x2, y []float32, sx int, w *[9]float32) {
	w0, w1, w2, w3, w4, w5, w6, w7, w8 := w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]
	y = y[:n]
	for i := range y {
		ix := i * sx
		a, b, d := x0[ix:ix+3:ix+3], x1[ix:ix+3:ix+3], x2[ix:ix+3:ix+3]
		s := y[i]
		s += w0 * a[0]
		s += w1 * a[1]
		s += w2 * a[2]
		s += w3 * b[0]
		s += w4 * b[1]
		s += w5 * b[2]
		s += w6 * d[0]
		s += w7 * d[1]
		s += w8 * d[2]
		y[i] = s
	}
}
