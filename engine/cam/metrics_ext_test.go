package cam

import (
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cnnlens/cnnlens/engine/internal/oracle"
)

// relClose checks one score within tol relative to the reference (or
// absolutely below 1e-6 for scores near 0).
func relClose(t *testing.T, what string, got, want float32, tol float64) {
	t.Helper()
	d := math.Abs(float64(got - want))
	t.Logf("%s: %.7g, reference %.7g (difference %.3g)", what, got, want, d)
	if d > tol*math.Abs(float64(want)) && d > 1e-6 || math.IsNaN(float64(got)) {
		t.Errorf("%s = %.7g, reference %.7g: difference %.3g exceeds %.0e relative", what, got, want, d, tol)
	}
}

// The metrics on the oracle's Grad-CAM map: noise-free ROAD exactly
// (metric.road0_*), complexity, coherency and ARCC; the seeded noisy ROAD
// within the noise's own effect.
func checkMetricsExt(t *testing.T, name, file string) {
	c := setupOracle(t, name, file)
	maps, err := c.o.F32("last.gradcam.cam")
	if err != nil {
		t.Fatal(err)
	}
	layer := c.o.Layers["last"].OnnxTensor
	c.s.BackwardReplace = oracle.FlipTies(c.ties[layer])
	targets := []Target{{Class: c.o.TargetClass}}
	one := func(key string) float32 {
		v, err := c.o.F32("metric." + key)
		if err != nil {
			t.Fatal(err)
		}
		return v[0]
	}
	exact := ROADOptions{Percentiles: ARCCPercentiles, Noise: -1}
	morf, err := ROAD(c.s, maps, targets, true, exact)
	if err != nil {
		t.Fatal(err)
	}
	lerf, err := ROAD(c.s, maps, targets, false, exact)
	if err != nil {
		t.Fatal(err)
	}
	wantM, _ := c.o.F32("metric.road0_morf.per_percentile")
	wantL, _ := c.o.F32("metric.road0_lerf.per_percentile")
	for p := range ARCCPercentiles {
		relClose(t, name+" road0_morf p"+ftoa(ARCCPercentiles[p]), morf.Change[p][0], wantM[p], 1e-3)
		relClose(t, name+" road0_lerf p"+ftoa(ARCCPercentiles[p]), lerf.Change[p][0], wantL[p], 1e-3)
	}
	relClose(t, name+" road0_morf_avg", morf.Mean[0], one("road0_morf_avg.score"), 1e-3)
	relClose(t, name+" road0_lerf_avg", lerf.Mean[0], one("road0_lerf_avg.score"), 1e-3)
	comb0 := (lerf.Mean[0] - morf.Mean[0]) / 2
	relClose(t, name+" road0_combined", comb0, one("road0_combined.score"), 1e-3)
	for _, p := range []struct {
		morf bool
		key  string
	}{{true, "road0_morf_p50.score"}, {false, "road0_lerf_p50.score"}} {
		r, err := ROAD(c.s, maps, targets, p.morf, ROADOptions{Percentiles: []float64{50}, Noise: -1})
		if err != nil {
			t.Fatal(err)
		}
		relClose(t, name+" "+p.key, r.Change[0][0], one(p.key), 1e-3)
	}

	cx := Complexity(maps, 1)
	relClose(t, name+" complexity", cx[0], one("arcc.complexity"), 1e-3)
	coh, err := Coherency(c.s, Request{Method: "gradcam", Layers: []string{layer}, Targets: targets}, maps)
	if err != nil {
		t.Fatal(err)
	}
	relClose(t, name+" coherency", coh.Score[0], one("arcc.coherency"), 1e-3)
	wantCam, _ := c.o.F32("metric.arcc.coherency_cam")
	closeAbs(t, name+" coherency_cam", coh.Maps, wantCam, 2e-3)
	relClose(t, name+" arcc0", ARCC(cx[0], coh.Score[0], comb0), one("arcc0.score"), 1e-3)
	// The library's formula on the reference's own parts.
	relClose(t, name+" arcc (reference parts)", ARCC(one("arcc.complexity"), one("arcc.coherency"), one("arcc.road_combined")), one("arcc.score"), 1e-5)

	// With the default noise (0.01, seeded differently from torch), ROAD
	// moves from the noise-free value by about as much as the reference's
	// noisy value does; as the noise goes to 0 it converges to it.
	noisy, err := ROADCombined(c.s, maps, targets, ROADOptions{Percentiles: ARCCPercentiles})
	if err != nil {
		t.Fatal(err)
	}
	refNoise := math.Abs(float64(one("road_combined.score") - one("road0_combined.score")))
	dev := math.Abs(float64(noisy[0] - comb0))
	t.Logf("%s: noisy road_combined %.6g (reference %.6g), noise-free %.6g", name, noisy[0], one("road_combined.score"), comb0)
	if dev > 5*refNoise+0.05*math.Abs(float64(comb0))+1e-4 {
		t.Errorf("noisy road_combined %.6g is %.3g from the noise-free %.6g; the reference's noise moved it %.3g", noisy[0], dev, comb0, refNoise)
	}
	for _, sigma := range []float64{1e-5} {
		r, err := ROADCombined(c.s, maps, targets, ROADOptions{Percentiles: ARCCPercentiles, Noise: sigma, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		d := math.Abs(float64(r[0] - comb0))
		t.Logf("%s: noise %g: road_combined %.7g, %.3g from the noise-free value", name, sigma, r[0], d)
		if sigma == 1e-5 && d > 1e-4*math.Abs(float64(comb0))+1e-6 {
			t.Errorf("noise %g: road_combined %.7g does not converge to the noise-free %.7g", sigma, r[0], comb0)
		}
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func TestMetricsExtTinyCNN(t *testing.T) { checkMetricsExt(t, "tinycnn-ext", "model.onnx") }
func TestMetricsExtResNet18(t *testing.T) {
	checkMetricsExt(t, "resnet18-ext", filepath.Join("..", "resnet18", "model_bn.onnx"))
}
