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
