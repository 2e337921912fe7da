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
					if ix := oxa*sx - pl; oxb > oxa && iy0+1 >= 0 && iy0+1 < H {
						// The middle row of taps is inside the input; the
						// others may be in the padding.
						row := func(iy int) []float32 {
							if iy < 0 || iy >= H {
								return nil
							}
							return xp[iy*W+ix : (iy+1)*W]
						}
						dw3Rows(oxb-oxa, row(iy0), row(iy0+1), row(iy0+2), yr[oxa:oxb], sx, wk, false)
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
					if ox, oy := ixa+pl-2, iy+pt; ixb > ixa && oy-1 >= 0 && oy-1 < OH {
						row := func(oy int) []float32 {
							if oy < 0 || oy >= OH {
								return nil
							}
							return dyp[oy*OW+ox : (oy+1)*OW]
						}
						dw3Rows(ixb-ixa, row(oy), row(oy-1), row(oy-2), dxr[ixa:ixb], 1, wk, true)
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

// dw3Rows adds the taps of n outputs of a 3×3 depthwise row to y with the
// row loop for the rows of taps present (a nil row is in the padding; r1
// must be present): dw3Row and its variants, or dw3RevRow and its variants
// for the input gradient (rev).
func dw3Rows(n int, r0, r1, r2, y []float32, sx int, w *[9]float32, rev bool) {
	switch {
	case r0 != nil && r2 != nil:
		if rev {
			dw3RevRow(n, r0, r1, r2, y, sx, w)
		} else {
			dw3Row(n, r0, r1, r2, y, sx, w)
		}
	case r0 != nil:
		if rev {
			dw3RevR01Row(n, r0, r1, nil, y, sx, w)
		} else {
			dw3R01Row(n, r0, r1, nil, y, sx, w)
		}
	case r2 != nil:
		if rev {
			dw3RevR12Row(n, nil, r1, r2, y, sx, w)
		} else {
			dw3R12Row(n, nil, r1, r2, y, sx, w)
		}
	default:
		y = y[:n]
		for i := range y { // the middle row alone: in the order of the sweep
			s, c := y[i], r1[i*sx:i*sx+3:i*sx+3]
			if rev {
				s += w[3] * c[2]
				s += w[4] * c[1]
				s += w[5] * c[0]
			} else {
				s += w[3] * c[0]
				s += w[4] * c[1]
				s += w[5] * c[2]
			}
			y[i] = s
		}
	}
}
