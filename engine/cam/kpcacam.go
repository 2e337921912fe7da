package cam

import (
	"math"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
)

// maxKernelPositions bounds KPCA-CAM's kernel matrix (n² float64 values:
// 128 MiB at 4096 positions, a 64×64 layer).
const maxKernelPositions = 4096

// KPCA-CAM (Karmani et al. 2024): EigenCAM with kernel PCA. Per image, the
// (h·w)×C activations are centred per channel; with the sigmoid kernel
// K_ij = tanh(γ⟨x_i, x_j⟩ + 1), γ = 1/C (scikit-learn's KernelPCA
// defaults), centred as KernelCenterer does, the map is the first kernel
// principal component √λ·v (λ, v the top eigenpair). No gradients and no
// target. The sign is arbitrary; it is fixed as for EigenCAM (Project2D).
func init() {
	registerLayer("kpcacam", false, kpcaCAM)
	runsFast("kpcacam")
}

func kpcaCAM(c *LayerContext) ([]float32, []float32, error) {
	chw, n := c.C*c.H*c.W, c.H*c.W
	if n > maxKernelPositions {
		return nil, nil, kind.Errorf(ErrBadRequest, "cam: kpcacam: layer %q has %d×%d = %d positions; its %d×%d kernel matrix is too large (at most %d positions): pick a deeper layer", c.Layer, c.H, c.W, n, n, n, maxKernelPositions)
	}
	a := c.Act.F32()
	out := make([]float32, 0, c.N*n)
	for b := 0; b < c.N; b++ {
		out = append(out, kernelProject(a[b*chw:(b+1)*chw], c.C, n)...)
	}
	return out, nil, nil
}

// kernelProject is the first sigmoid-kernel principal component of a C×n
// stack's n positions.
func kernelProject(stack []float32, c, n int) []float32 {
	if n == 0 || c == 0 {
		return make([]float32, n)
	}
	x := make([]float64, n*c) // n×C, centred per channel
	for ch := 0; ch < c; ch++ {
		var mean float64
		for i := 0; i < n; i++ {
			mean += finite(stack[ch*n+i])
		}
		mean /= float64(n)
		for i := 0; i < n; i++ {
			x[i*c+ch] = finite(stack[ch*n+i]) - mean
		}
	}
	gamma := 1 / float64(c)
	k := make([]float64, n*n)
	for i := 0; i < n; i++ {
		xi := x[i*c : (i+1)*c]
		for j := i; j < n; j++ {
			var s float64
			for ch, v := range x[j*c : (j+1)*c] {
				s += xi[ch] * v
			}
			v := math.Tanh(gamma*s + 1)
			k[i*n+j], k[j*n+i] = v, v
		}
	}
	// KernelCenterer: K − 1K/n − K1/n + 1K1/n².
	col := make([]float64, n)
	var all float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			col[j] += k[i*n+j]
		}
	}
	for j := range col {
		all += col[j]
		col[j] /= float64(n)
	}
	all /= float64(n * n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			k[i*n+j] += all - col[i] - col[j] // K is symmetric: row means = column means
		}
	}
	lambda, v, ok := topEigenLarge(k, n)
	proj := make([]float64, n)
	if !ok || lambda <= 0 {
		return make([]float32, n)
	}
	s := math.Sqrt(lambda)
	for i := range proj {
		proj[i] = s * v[i]
	}
	return orient(proj, stack, c, n)
}

func finite(v float32) float64 {
	if f := float64(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
		return f
	}
	return 0
}
