package cam

import "math"

// topEigen returns the largest eigenvalue of the symmetric k×k matrix a
// (row-major, float64; overwritten) and a unit eigenvector for it. It
// reduces a to tridiagonal form with Householder reflections and
// diagonalises that with the implicit QL method (the EISPACK tred2/tql2
// pair, as in JAMA), accumulating the transformations. ok is false for a
// matrix with a NaN or an infinity, or if the iteration does not converge.
func topEigen(a []float64, k int) (lambda float64, vec []float64, ok bool) {
	if k == 0 {
		return 0, nil, true
	}
	for _, x := range a[:k*k] {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, nil, false
		}
	}
	v := func(i, j int) *float64 { return &a[i*k+j] }
	d := make([]float64, k)
	e := make([]float64, k)

	// Householder reduction to tridiagonal form (tred2).
	for j := 0; j < k; j++ {
		d[j] = *v(k-1, j)
	}
	for i := k - 1; i > 0; i-- {
		var scale, h float64
		for q := 0; q < i; q++ {
			scale += math.Abs(d[q])
		}
		if scale == 0 {
			e[i] = d[i-1]
			for j := 0; j < i; j++ {
				d[j] = *v(i-1, j)
				*v(i, j) = 0
				*v(j, i) = 0
			}
		} else {
			for q := 0; q < i; q++ {
				d[q] /= scale
				h += d[q] * d[q]
			}
			f := d[i-1]
			g := math.Sqrt(h)
			if f > 0 {
				g = -g
			}
			e[i] = scale * g
			h -= f * g
			d[i-1] = f - g
			for j := 0; j < i; j++ {
				e[j] = 0
			}
			for j := 0; j < i; j++ {
				f = d[j]
				*v(j, i) = f
				g = e[j] + *v(j, j)*f
				for q := j + 1; q <= i-1; q++ {
					g += *v(q, j) * d[q]
					e[q] += *v(q, j) * f
				}
				e[j] = g
			}
			f = 0
			for j := 0; j < i; j++ {
				e[j] /= h
				f += e[j] * d[j]
			}
			hh := f / (h + h)
			for j := 0; j < i; j++ {
				e[j] -= hh * d[j]
			}
			for j := 0; j < i; j++ {
				f, g = d[j], e[j]
				for q := j; q <= i-1; q++ {
					*v(q, j) -= f*e[q] + g*d[q]
				}
				d[j] = *v(i-1, j)
				*v(i, j) = 0
			}
		}
		d[i] = h
	}
	for i := 0; i < k-1; i++ {
		*v(k-1, i) = *v(i, i)
		*v(i, i) = 1
		if h := d[i+1]; h != 0 {
			for q := 0; q <= i; q++ {
				d[q] = *v(q, i+1) / h
			}
			for j := 0; j <= i; j++ {
				var g float64
				for q := 0; q <= i; q++ {
					g += *v(q, i+1) * *v(q, j)
				}
				for q := 0; q <= i; q++ {
					*v(q, j) -= g * d[q]
				}
			}
		}
		for q := 0; q <= i; q++ {
			*v(q, i+1) = 0
		}
	}
	for j := 0; j < k; j++ {
		d[j] = *v(k-1, j)
		*v(k-1, j) = 0
	}
	*v(k-1, k-1) = 1
	e[0] = 0

	// Implicit QL iterations on the tridiagonal matrix (tql2).
	for i := 1; i < k; i++ {
		e[i-1] = e[i]
	}
	e[k-1] = 0
	var f, tst1 float64
	const eps = 0x1p-52
	for l := 0; l < k; l++ {
		tst1 = math.Max(tst1, math.Abs(d[l])+math.Abs(e[l]))
		m := l
		for m < k && math.Abs(e[m]) > eps*tst1 {
			m++
		}
		if m == k {
			return 0, nil, false
		}
		for iter := 0; m > l; iter++ {
			if iter > 60 {
				return 0, nil, false
			}
			g := d[l]
			p := (d[l+1] - g) / (2 * e[l])
			r := math.Hypot(p, 1)
			if p < 0 {
				r = -r
			}
			d[l] = e[l] / (p + r)
			d[l+1] = e[l] * (p + r)
			dl1 := d[l+1]
			h := g - d[l]
			for i := l + 2; i < k; i++ {
				d[i] -= h
			}
			f += h
			p = d[m]
			c, c2, c3 := 1.0, 1.0, 1.0
			el1 := e[l+1]
			var s, s2 float64
			for i := m - 1; i >= l; i-- {
				c3, c2, s2 = c2, c, s
				g = c * e[i]
				h = c * p
				r = math.Hypot(p, e[i])
				e[i+1] = s * r
				s, c = e[i]/r, p/r
				p = c*d[i] - s*g
				d[i+1] = h + s*(c*g+s*d[i])
				for q := 0; q < k; q++ {
					h = *v(q, i+1)
					*v(q, i+1) = s**v(q, i) + c*h
					*v(q, i) = c**v(q, i) - s*h
				}
			}
			p = -s * s2 * c3 * el1 * e[l] / dl1
			e[l] = s * p
			d[l] = c * p
			if math.Abs(e[l]) <= eps*tst1 {
				break
			}
		}
		d[l] += f
		e[l] = 0
	}

	best := 0
	for j := 1; j < k; j++ {
		if d[j] > d[best] {
			best = j
		}
	}
	vec = make([]float64, k)
	for q := range vec {
		vec[q] = *v(q, best)
	}
	return d[best], vec, true
}

// topEigenLarge is topEigen for a large matrix (not overwritten): the
// Lanczos iteration with full reorthogonalisation from a fixed start
// vector, O(k²) per step instead of topEigen's O(k³), until the top Ritz
// pair's residual ‖a·v − λv‖ is below 1e-10 of the largest Ritz value's
// magnitude (or k steps, where it is exact). Matrices of up to 600 rows go
// to topEigen directly.
func topEigenLarge(a []float64, k int) (lambda float64, vec []float64, ok bool) {
	if k <= 600 {
		return topEigen(append([]float64(nil), a[:k*k]...), k)
	}
	for _, x := range a[:k*k] {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, nil, false
		}
	}
	// A fixed, dense start: a golden-ratio sequence, never orthogonal to a
	// data-dependent eigenvector in practice.
	q := make([]float64, k)
	for i := range q {
		q[i] = 0.5 + math.Mod(float64(i+1)*0.6180339887498949, 1)
	}
	scaleVec(q, 1/norm2(q))
	var basis [][]float64
	var alpha, beta []float64
	var y []float64
	w := make([]float64, k)
	for j := 0; j < k; j++ {
		basis = append(basis, q)
		for r := 0; r < k; r++ {
			var s float64
			for c, x := range a[r*k : (r+1)*k] {
				s += x * q[c]
			}
			w[r] = s
		}
		var aj float64
		for i := range w {
			aj += w[i] * q[i]
		}
		alpha = append(alpha, aj)
		for pass := 0; pass < 2; pass++ {
			for _, b := range basis {
				var d float64
				for i := range w {
					d += w[i] * b[i]
				}
				for i := range w {
					w[i] -= d * b[i]
				}
			}
		}
		bj := norm2(w)
		m := j + 1
		if m%8 == 0 || m == k || bj == 0 {
			t := make([]float64, m*m)
			for i := 0; i < m; i++ {
				t[i*m+i] = alpha[i]
				if i+1 < m {
					t[i*m+i+1], t[(i+1)*m+i] = beta[i], beta[i]
				}
			}
			l, v, good := topEigen(t, m)
			if !good {
				return 0, nil, false
			}
			lambda, y = l, v
			var tnorm float64
			for _, x := range alpha {
				tnorm = math.Max(tnorm, math.Abs(x))
			}
			if bj*math.Abs(y[m-1]) <= 1e-10*math.Max(tnorm, math.Abs(lambda)) || m == k || bj == 0 {
				break
			}
		}
		beta = append(beta, bj)
		q = append([]float64(nil), w...)
		scaleVec(q, 1/bj)
	}
	vec = make([]float64, k)
	for i, b := range basis[:len(y)] {
		for r := range vec {
			vec[r] += y[i] * b[r]
		}
	}
	scaleVec(vec, 1/norm2(vec))
	return lambda, vec, true
}

func scaleVec(v []float64, f float64) {
	for i := range v {
		v[i] *= f
	}
}
