package cam

import (
	"math"
	"math/rand"
	"path/filepath"
	"testing"
)

// DFF on the oracle's layer: the factorisation's error no worse than
// scikit-learn's (+2 %), concept maps and the head's outputs computed as
// pytorch-grad-cam does (checked on the reference's own factors).
func checkDFF(t *testing.T, name, file string, k int) {
	c := setupOracle(t, name, file)
	layer := c.o.Layers["last"].OnnxTensor
	r, err := DFF(c.s, layer, k, DFFOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.o.F32("dff.rel_error")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: relative error %.6f, scikit-learn's %.6f", name, r.RelError, ref[0])
	if r.RelError > float64(ref[0])*1.02 || math.IsNaN(r.RelError) {
		t.Errorf("relative error %.5f is worse than scikit-learn's %.5f + 2 %%", r.RelError, ref[0])
	}
	// The error is what it says: recompute it from the concepts and maps.
	act, _, _ := c.s.Activation(layer)
	a := act.F32()
	hw := r.H * r.W
	var num, den float64
	for ch := 0; ch < r.C; ch++ {
		lo := math.Inf(1)
		for i := 0; i < hw; i++ {
			lo = math.Min(lo, float64(a[ch*hw+i]))
		}
		for i := 0; i < hw; i++ {
			var wh float64
			for j := 0; j < k; j++ {
				if r.Raw[j*hw+i] < 0 {
					t.Fatalf("H[%d,%d] = %g < 0", j, i, r.Raw[j*hw+i])
				}
				wh += (float64(r.Concepts[ch*k+j]) - lo) * float64(r.Raw[j*hw+i])
			}
			v := float64(a[ch*hw+i]) - lo
			num += (v - wh) * (v - wh)
			den += v * v
		}
	}
	if got := math.Sqrt(num / den); math.Abs(got-r.RelError) > 1e-4 {
		t.Errorf("relative error recomputed from the factors %.6f, reported %.6f", got, r.RelError)
	}
	// The reference's factors through our map and head code.
	refH, _ := c.o.F32("dff.H")
	refMaps, _ := c.o.F32("dff.explanations")
	closeAbs(t, name+" dff.explanations", conceptMaps(refH, k, r.H, r.W, r.Height, r.Width), refMaps, 2e-3)
	refConcepts, _ := c.o.F32("dff.concepts")
	refOut, _ := c.o.F32("dff.concept_outputs")
	out, classes := conceptOutputs(c.s, &LayerContext{S: c.s, Layer: layer, Act: act, N: 1, C: r.C, H: r.H, W: r.W}, refConcepts, k)
	if classes != c.s.Classes() {
		t.Fatalf("no linear head found (%d classes)", classes)
	}
	closeRel(t, name+" dff.concept_outputs", out, refOut, 1e-4)
	if len(r.Outputs) != k*classes || len(r.TopClasses(0, 3)) != 3 {
		t.Errorf("concept outputs: %d values, top classes %v", len(r.Outputs), r.TopClasses(0, 3))
	}
}

func TestDFFTinyCNN(t *testing.T) { checkDFF(t, "tinycnn-ext", "model.onnx", 4) }
func TestDFFResNet18(t *testing.T) {
	checkDFF(t, "resnet18-ext", filepath.Join("..", "resnet18", "model_bn.onnx"), 5)
}

// NMF recovers an exactly factorisable matrix and never increases the
// error of its start.
func TestNMFExact(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	const m, n, k = 20, 30, 3
	w, h := make([]float64, m*k), make([]float64, k*n)
	for i := range w {
		w[i] = rng.Float64()
	}
	for i := range h {
		h[i] = rng.Float64()
	}
	a := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for c := 0; c < n; c++ {
			for p := 0; p < k; p++ {
				a[i*n+c] += w[i*k+p] * h[p*n+c]
			}
		}
	}
	_, _, rel := NMF(a, m, n, k, 2000, 1e-12)
	if rel > 1e-3 {
		t.Errorf("relative error %.3g on an exact rank-3 non-negative matrix", rel)
	}
	w0, h0 := nndsvda(a, m, n, k)
	if start := frobErr(a, w0, h0, m, n, k) / norm2(a); start < rel {
		t.Errorf("the iterations made the error worse: start %.3g, end %.3g", start, rel)
	}
}
