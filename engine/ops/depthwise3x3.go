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

// depthwise3x3Dx accumulates the input gradient of a 3×3 depthwise
// convolution with stride 1 and no dilation into dx, and reports whether it
// did (false: another geometry, for depthwiseBackward's sweep). Each input
// element takes its nine taps at once, in the order of the tap-by-tap
// sweep (kernel row, then column; taps outside the output skipped), each
// product added on its own, so the sums are bit for bit the sweep's; dx is
// read and written once per output channel instead of nine times. The
// output gradient meets the kernel mirrored: input (iy, ix) takes tap
// (ki, kj) from output (iy+pt−ki, ix+pl−kj).
func depthwise3x3Dx(p *convPlan, w, dy, dx []float32) bool {
	g := p.g
	if g.KH != 3 || g.KW != 3 || g.DilH != 1 || g.DilW != 1 || g.StrideH != 1 || g.StrideW != 1 || p.rank != 4 {
		return false
	}
	H, W, OH, OW := g.H, g.W, g.OutH, g.OutW
	pt, pl := g.PadT, g.PadL
	// Columns whose three taps all lie inside the output: 0 ≤ ix+pl−2 and
	// ix+pl < OW.
	ixa := min(W, max(0, 2-pl))
	ixb := max(ixa, min(W, OW-pl))
	edge := func(wp, dyp, dxr []float32, iy, ix int) {
		s := dxr[ix]
		for ki := 0; ki < 3; ki++ {
			oy := iy + pt - ki
			if oy < 0 || oy >= OH {
				continue
			}
			dyr := dyp[oy*OW : (oy+1)*OW]
			for kj := 0; kj < 3; kj++ {
				if ox := ix + pl - kj; ox >= 0 && ox < OW {
					s += wp[ki*3+kj] * dyr[ox]
				}
			}
		}
		dxr[ix] = s
	}
	for n := 0; n < p.N; n++ {
		for c := 0; c < p.C; c++ {
			dxp := dx[(n*p.C+c)*p.hw:][:p.hw]
			for j := 0; j < p.Mg; j++ {
				m := c*p.Mg + j
				wp := w[m*9:][:9]
				wk := (*[9]float32)(wp)
				dyp := dy[(n*p.M+m)*p.ohw:][:p.ohw]
				for iy := 0; iy < H; iy++ {
					dxr := dxp[iy*W : (iy+1)*W]
					for ix := 0; ix < ixa; ix++ {
						edge(wp, dyp, dxr, iy, ix)
					}
					if oy := iy + pt; oy-2 >= 0 && oy < OH {
						if ox := ixa + pl - 2; ixb > ixa {
							d0 := dyp[oy*OW : (oy+1)*OW]
							d1 := dyp[(oy-1)*OW : oy*OW]
							d2 := dyp[(oy-2)*OW : (oy-1)*OW]
							dw3RevRow(ixb-ixa, d0[ox:], d1[ox:], d2[ox:], dxr[ixa:ixb], 1, wk)
						}
					} else {
						for ix := ixa; ix < ixb; ix++ {
							edge(wp, dyp, dxr, iy, ix)
						}
					}
					for ix := ixb; ix < W; ix++ {
						edge(wp, dyp, dxr, iy, ix)
					}
				}
			}
		}
	}
	return true
}

// dw3RevRowGo is dw3RowGo with each row's three columns taken right to
// left: y[i] += w[0]·x0[i·sx+2] + w[1]·x0[i·sx+1] + w[2]·x0[i·sx] + w[3]·x1[i·sx+2]
// + …, each product added on its own in that order. dw3RevRow is this, in
// wasm assembly in wasm (loops_wasm.s).
func dw3RevRowGo(n int, x0, x1, x2, y []float32, sx int, w *[9]float32) {
	w0, w1, w2, w3, w4, w5, w6, w7, w8 := w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]
	y = y[:n]
	for i := range y {
		ix := i * sx
		a, b, d := x0[ix:ix+3:ix+3], x1[ix:ix+3:ix+3], x2[ix:ix+3:ix+3]
		s := y[i]
		s += w0 * a[2]
		s += w1 * a[1]
		s += w2 * a[0]
		s += w3 * b[2]
		s += w4 * b[1]
		s += w5 * b[0]
		s += w6 * d[2]
		s += w7 * d[1]
		s += w8 * d[0]
		y[i] = s
	}
}
