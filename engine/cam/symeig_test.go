package cam

import (
	"math"
	"math/rand"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// project2DSVD is Project2D through gonum's SVD (how cnnlens computed it
// before its own eigen-solver), the reference for the test below.
func project2DSVD(stack []float32, c, h, w int) []float32 {
	n := h * w
	m := mat.NewDense(n, c, nil)
	for ch := 0; ch < c; ch++ {
		var mean float64
		for i := 0; i < n; i++ {
			mean += float64(stack[ch*n+i])
		}
		mean /= float64(n)
		for i := 0; i < n; i++ {
			m.Set(i, ch, float64(stack[ch*n+i])-mean)
		}
	}
	var svd mat.SVD
	if !svd.Factorize(m, mat.SVDThinV) {
		return make([]float32, n)
	}
	var v mat.Dense
	svd.VTo(&v)
	proj := make([]float64, n)
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			proj[i] += m.At(i, ch) * v.At(ch, 0)
		}
	}
	return orient(proj, stack, c, n)
}

// Project2D (Gram matrix + tred2/tql2) equals the SVD route on stacks
// with more channels than positions and fewer, of low rank, with a
// dominant direction and without.
func TestProject2DMatchesSVD(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	cases := []struct {
		c, h, w, rank int
		dominant      bool
	}{
		{512, 7, 7, 0, true}, {512, 7, 7, 0, false}, {64, 8, 8, 0, true}, {128, 28, 28, 0, true},
		{16, 32, 32, 0, false}, {3, 1, 5, 0, false}, {5, 1, 3, 0, false}, {32, 6, 6, 3, true},
		{40, 4, 5, 2, false}, {1, 4, 4, 0, false}, {6, 1, 1, 0, false}, {256, 14, 14, 0, true},
	}
	for _, tc := range cases {
		n := tc.h * tc.w
		stack := make([]float32, tc.c*n)
		for i := range stack {
			stack[i] = float32(rng.NormFloat64())
		}
		if tc.rank > 0 {
			// Channels that are combinations of `rank` others.
			for ch := tc.rank; ch < tc.c; ch++ {
				for i := 0; i < n; i++ {
					stack[ch*n+i] = stack[(ch%tc.rank)*n+i] * float32(ch)
				}
			}
		}
		if tc.dominant {
			for ch := 0; ch < tc.c; ch++ {
				for i := 0; i < n; i++ {
					stack[ch*n+i] += 3 * float32(math.Sin(float64(i))*math.Cos(float64(ch)))
				}
			}
		}
		got := Project2D(stack, tc.c, tc.h, tc.w)
		want := project2DSVD(stack, tc.c, tc.h, tc.w)
		var scale, diff float64
		for i := range want {
			scale = math.Max(scale, math.Abs(float64(want[i])))
			diff = math.Max(diff, math.Abs(float64(got[i]-want[i])))
		}
		if diff > 1e-4*scale {
			t.Errorf("%d×%d×%d (rank %d, dominant %v): max difference %.3g of %.3g", tc.c, tc.h, tc.w, tc.rank, tc.dominant, diff, scale)
		}
	}
	// A constant stack has nothing to project.
	flat := make([]float32, 4*9)
	for i := range flat {
		flat[i] = 2
	}
	for i, v := range Project2D(flat, 4, 3, 3) {
		if v != 0 {
			t.Fatalf("constant stack: value %d is %v", i, v)
		}
	}
}

// topEigen on matrices with known eigenvalues: Q·diag·Qᵀ.
func TestTopEigen(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, k := range []int{1, 2, 3, 10, 50} {
		q := mat.NewDense(k, k, nil)
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				q.Set(i, j, rng.NormFloat64())
			}
		}
		var qr mat.QR
		qr.Factorize(q)
		var orth mat.Dense
		qr.QTo(&orth)
		eig := make([]float64, k)
		for i := range eig {
			eig[i] = float64(i) - float64(k)/3 // negative ones too
		}
		var a mat.Dense
		a.Mul(&orth, mat.NewDiagDense(k, eig))
		a.Mul(&a, orth.T())
		flat := make([]float64, k*k)
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				flat[i*k+j] = a.At(i, j)
			}
		}
		lambda, v, ok := topEigen(flat, k)
		if !ok || math.Abs(lambda-eig[k-1]) > 1e-10*float64(k) {
			t.Fatalf("k=%d: top eigenvalue %v (ok %v), want %v", k, lambda, ok, eig[k-1])
		}
		var dot float64
		for i := 0; i < k; i++ {
			dot += v[i] * orth.At(i, k-1)
		}
		if math.Abs(math.Abs(dot)-1) > 1e-9 {
			t.Fatalf("k=%d: eigenvector · true one = %v", k, dot)
		}
	}
	if _, _, ok := topEigen([]float64{math.NaN(), 0, 0, 1}, 2); ok {
		t.Fatal("NaN matrix: want ok false")
	}
}

// The Lanczos path agrees with the dense one on a large matrix with
// negative eigenvalues of larger magnitude than the top one.
func TestTopEigenLarge(t *testing.T) {
	const k = 700
	rng := rand.New(rand.NewSource(9))
	// A = Σ_i e_i u_i u_iᵀ over a few random directions, plus small noise.
	a := make([]float64, k*k)
	for _, e := range []float64{3, 2.5, -5, -1, 0.5} {
		u := make([]float64, k)
		for i := range u {
			u[i] = rng.NormFloat64()
		}
		scaleVec(u, 1/norm2(u))
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				a[i*k+j] += e * u[i] * u[j]
			}
		}
	}
	for i := 0; i < k; i++ {
		for j := 0; j <= i; j++ {
			n := 1e-3 * rng.NormFloat64()
			a[i*k+j] += n
			if i != j {
				a[j*k+i] += n
			}
		}
	}
	l1, v1, ok1 := topEigenLarge(a, k)
	l2, v2, ok2 := topEigen(append([]float64(nil), a...), k)
	if !ok1 || !ok2 || math.Abs(l1-l2) > 1e-9*math.Abs(l2) {
		t.Fatalf("Lanczos λ %v (ok %v), dense %v (ok %v)", l1, ok1, l2, ok2)
	}
	var dot float64
	for i := range v1 {
		dot += v1[i] * v2[i]
	}
	if math.Abs(math.Abs(dot)-1) > 1e-8 {
		t.Errorf("eigenvectors: |v₁·v₂| = %v", math.Abs(dot))
	}
}
