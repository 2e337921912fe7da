package cam

import "math"

// NMF factorises a non-negative m×n matrix a (row-major) into W (m×k) and
// H (k×n), both non-negative, minimising ‖a − WH‖_F: NNDSVDa start
// (Boutsidis & Gallopoulos 2008: the leading singular vectors split into
// their positive and negative parts, zeros set to the mean of a), then
// hierarchical alternating least squares (coordinate descent on one row
// of H or column of W at a time, as scikit-learn's "cd" solver) until the
// relative error improves by less than tol in an iteration, or maxIter
// iterations. Deterministic: no random start. It returns W, H and
// ‖a − WH‖_F / ‖a‖_F.
func NMF(a []float64, m, n, k, maxIter int, tol float64) (w, h []float64, relErr float64) {
	w, h = nndsvda(a, m, n, k)
	norm2 := 0.0
	for _, v := range a {
		norm2 += v * v
	}
	if norm2 == 0 {
		return w, h, 0
	}
	prev := math.Inf(1)
	for it := 0; it < maxIter; it++ {
		halsH(a, w, h, m, n, k)
		halsW(a, w, h, m, n, k)
		e := frobErr(a, w, h, m, n, k) / math.Sqrt(norm2)
		if prev-e < tol*prev {
			prev = e
			break
		}
		prev = e
	}
	return w, h, frobErr(a, w, h, m, n, k) / math.Sqrt(norm2)
}

// halsH updates each row j of H: H_j ← max(0, H_j + ((WᵀA)_j − (WᵀW)_j H)/(WᵀW)_jj).
func halsH(a, w, h []float64, m, n, k int) {
	wtw := make([]float64, k*k)
	wta := make([]float64, k*n)
	for i := 0; i < m; i++ {
		wi := w[i*k : (i+1)*k]
		ai := a[i*n : (i+1)*n]
		for p, x := range wi {
			if x == 0 {
				continue
			}
			for q := 0; q < k; q++ {
				wtw[p*k+q] += x * wi[q]
			}
			row := wta[p*n : (p+1)*n]
			for c, v := range ai {
				row[c] += x * v
			}
		}
	}
	for j := 0; j < k; j++ {
		d := wtw[j*k+j]
		if d <= 0 {
			continue
		}
		hj := h[j*n : (j+1)*n]
		for c := 0; c < n; c++ {
			g := wta[j*n+c]
			for q := 0; q < k; q++ {
				g -= wtw[j*k+q] * h[q*n+c]
			}
			hj[c] = math.Max(0, hj[c]+g/d)
		}
	}
}

// halsW updates each column j of W: W_:j ← max(0, W_:j + ((AHᵀ)_:j − W(HHᵀ)_:j)/(HHᵀ)_jj).
func halsW(a, w, h []float64, m, n, k int) {
	hht := make([]float64, k*k)
	for p := 0; p < k; p++ {
		for q := 0; q < k; q++ {
			var s float64
			for c := 0; c < n; c++ {
				s += h[p*n+c] * h[q*n+c]
			}
			hht[p*k+q] = s
		}
	}
	aht := make([]float64, m*k)
	for i := 0; i < m; i++ {
		ai := a[i*n : (i+1)*n]
		for p := 0; p < k; p++ {
			var s float64
			for c, v := range ai {
				s += v * h[p*n+c]
			}
			aht[i*k+p] = s
		}
	}
	for j := 0; j < k; j++ {
		d := hht[j*k+j]
		if d <= 0 {
			continue
		}
		for i := 0; i < m; i++ {
			g := aht[i*k+j]
			for q := 0; q < k; q++ {
				g -= w[i*k+q] * hht[q*k+j]
			}
			w[i*k+j] = math.Max(0, w[i*k+j]+g/d)
		}
	}
}

func frobErr(a, w, h []float64, m, n, k int) float64 {
	var s float64
	for i := 0; i < m; i++ {
		for c := 0; c < n; c++ {
			v := a[i*n+c]
			for p := 0; p < k; p++ {
				v -= w[i*k+p] * h[p*n+c]
			}
			s += v * v
		}
	}
	return math.Sqrt(s)
}

// nndsvda is the NNDSVD start with zeros replaced by the mean of a.
func nndsvda(a []float64, m, n, k int) (w, h []float64) {
	w, h = make([]float64, m*k), make([]float64, k*n)
	u, s, v := topSVD(a, m, n, k)
	for j := 0; j < k; j++ {
		x, y := u[j], v[j]
		if j == 0 {
			x, y = absAll(x), absAll(y)
			for i := range x {
				w[i*k] = math.Sqrt(s[0]) * x[i]
			}
			for c := range y {
				h[c] = math.Sqrt(s[0]) * y[c]
			}
			continue
		}
		xp, xn, yp, yn := posPart(x, 1), posPart(x, -1), posPart(y, 1), posPart(y, -1)
		xpn, xnn, ypn, ynn := norm2(xp), norm2(xn), norm2(yp), norm2(yn)
		mp, mn := xpn*ypn, xnn*ynn
		uu, vv, sigma := xp, yp, mp
		un, vn := xpn, ypn
		if mn > mp {
			uu, vv, sigma, un, vn = xn, yn, mn, xnn, ynn
		}
		if un == 0 || vn == 0 {
			continue
		}
		l := math.Sqrt(s[j] * sigma)
		for i := range uu {
			w[i*k+j] = l * uu[i] / un
		}
		for c := range vv {
			h[j*n+c] = l * vv[c] / vn
		}
	}
	var mean float64
	for _, x := range a {
		mean += x
	}
	mean /= float64(len(a))
	for i := range w {
		if w[i] < 1e-6 {
			w[i] = mean
		}
	}
	for i := range h {
		if h[i] < 1e-6 {
			h[i] = mean
		}
	}
	return w, h
}

// topSVD returns the k leading singular triplets of the m×n matrix a (the
// eigenpairs of the smaller Gram matrix, by deflation): u[j] has m values,
// v[j] n values. Pairs beyond the rank are zero.
func topSVD(a []float64, m, n, k int) (u [][]float64, s []float64, v [][]float64) {
	small := min(m, n)
	g := make([]float64, small*small)
	if n <= m { // AᵀA, n×n
		for i := 0; i < m; i++ {
			row := a[i*n : (i+1)*n]
			for p, x := range row {
				for q := p; q < n; q++ {
					g[p*n+q] += x * row[q]
				}
			}
		}
	} else { // AAᵀ, m×m
		for p := 0; p < m; p++ {
			for q := p; q < m; q++ {
				var t float64
				for c := 0; c < n; c++ {
					t += a[p*n+c] * a[q*n+c]
				}
				g[p*m+q] = t
			}
		}
	}
	for p := 0; p < small; p++ {
		for q := 0; q < p; q++ {
			g[p*small+q] = g[q*small+p]
		}
	}
	for j := 0; j < k; j++ {
		work := append([]float64(nil), g...)
		lambda, vec, ok := topEigen(work, small)
		uj, vj := make([]float64, m), make([]float64, n)
		sj := 0.0
		if ok && lambda > 1e-12 {
			sj = math.Sqrt(lambda)
			if n <= m {
				copy(vj, vec)
				for i := 0; i < m; i++ {
					var t float64
					for c := 0; c < n; c++ {
						t += a[i*n+c] * vec[c]
					}
					uj[i] = t / sj
				}
			} else {
				copy(uj, vec)
				for c := 0; c < n; c++ {
					var t float64
					for i := 0; i < m; i++ {
						t += a[i*n+c] * vec[i]
					}
					vj[c] = t / sj
				}
			}
			for p := 0; p < small; p++ {
				for q := 0; q < small; q++ {
					g[p*small+q] -= lambda * vec[p] * vec[q]
				}
			}
		}
		u, s, v = append(u, uj), append(s, sj), append(v, vj)
	}
	return u, s, v
}

func absAll(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = math.Abs(v)
	}
	return out
}

// posPart is max(sign·x, 0).
func posPart(x []float64, sign float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = math.Max(sign*v, 0)
	}
	return out
}

func norm2(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}
