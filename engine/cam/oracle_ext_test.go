package cam

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cnnlens/cnnlens/engine/internal/oracle"
)

// extManifest is the part of an extension case's manifest.json these tests
// read beyond oracle.Manifest: the comparison classes FinerCAM used.
type extManifest struct {
	Methods map[string]struct {
		ComparisonClasses []int `json:"comparison_classes"`
	} `json:"methods"`
}

func readExt(t *testing.T, o *oracle.Model) *extManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(o.Dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m extManifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// checkExt compares the newer CAM-family methods and targets of an
// extension case with pytorch-grad-cam: the ReST target, FinerCAM, FEM,
// KPCA-CAM, ShapleyCAM and RefineCAM.
func checkExt(t *testing.T, name, file string, fast bool) {
	c := setupOracle(t, name, file)
	c.fast = fast
	ext := readExt(t, c.o)
	for _, key := range []string{"mid", "last"} {
		layer := c.o.Layers[key].OnnxTensor
		// check compares a result with the oracle's .cam, .raw, .weights.
		check := func(t *testing.T, ref string, r *Result, signFree bool) {
			t.Helper()
			raw := r.Layers[0].Raw
			wantRaw, err := c.o.F32(ref + ".raw")
			if err != nil {
				t.Fatal(err)
			}
			if signFree && oracle.MaxRelDiff(negate(raw), wantRaw) < oracle.MaxRelDiff(raw, wantRaw) {
				raw = negate(raw)
				l := r.Layers[0]
				r.Maps = aggregate([][]float32{Finish(raw, l.H, l.W, r.Height, r.Width)}, 1, r.Height*r.Width)
				t.Logf("%s: the eigenvector's sign differs from scikit-learn's (allowed)", ref)
			}
			closeRel(t, ref+".raw", raw, wantRaw, 1e-4)
			if c.o.Has(ref + ".weights") {
				want, _ := c.o.F32(ref + ".weights")
				closeRel(t, ref+".weights", r.Layers[0].Weights, want, 1e-4)
			}
			want, err := c.o.F32(ref + ".cam")
			if err != nil {
				t.Fatal(err)
			}
			closeAbs(t, ref+".cam", r.Maps, want, 2e-3)
		}
		grad := func(t *testing.T, ref string, target Target) {
			t.Helper()
			want, err := c.o.F32(ref + ".grad")
			if err != nil {
				t.Fatal(err)
			}
			g, _, err := c.main(t).Gradients([]Target{target}, []string{layer})
			if err != nil {
				t.Fatal(err)
			}
			closeRel(t, ref+".grad", g[layer].F32(), want, 1e-4)
		}
		t.Run(name+"/"+key+".gradcam_rest", func(t *testing.T) {
			tg := Target{Kind: ReST, Class: c.o.TargetClass}
			r := c.runTarget(t, Request{Method: "gradcam", Layers: []string{layer}}, tg)
			check(t, key+".gradcam_rest", r, false)
			grad(t, key+".gradcam_rest", tg)
		})
		t.Run(name+"/"+key+".finercam", func(t *testing.T) {
			logits := c.main(t).Logits(0)
			want := ext.Methods[key+".finercam"].ComparisonClasses
			if got := FinerClasses(logits, c.o.TargetClass); !reflect.DeepEqual(got, want) {
				t.Errorf("comparison classes %v, the reference used %v", got, want)
			}
			r := c.run(t, Request{Method: "finercam", Layers: []string{layer}})
			check(t, key+".finercam", r, false)
			grad(t, key+".finercam", Target{Kind: Finer, Class: c.o.TargetClass, Compare: want, Alpha: 1})
		})
		t.Run(name+"/"+key+".fem", func(t *testing.T) {
			check(t, key+".fem", c.run(t, Request{Method: "fem", Layers: []string{layer}}), false)
		})
		t.Run(name+"/"+key+".kpcacam", func(t *testing.T) {
			check(t, key+".kpcacam", c.run(t, Request{Method: "kpcacam", Layers: []string{layer}}), true)
		})
	}
	t.Run(name+"/refinecam", func(t *testing.T) {
		mid, last := c.o.Layers["mid"].OnnxTensor, c.o.Layers["last"].OnnxTensor
		r := c.run(t, Request{Method: "refinecam", Layers: []string{mid, last}})
		want, err := c.o.F32("refinecam.cam")
		if err != nil {
			t.Fatal(err)
		}
		closeAbs(t, "refinecam.cam", r.Maps, want, 2e-3)
		if len(r.Layers) != 2 {
			t.Fatalf("%d layer results, want 2", len(r.Layers))
		}
		for i, key := range []string{"mid", "last"} {
			wantRaw, _ := c.o.F32("refinecam." + key + ".raw")
			closeRel(t, "refinecam."+key+".raw", r.Layers[i].Raw, wantRaw, 1e-4)
			wantW, _ := c.o.F32("refinecam." + key + ".weights")
			closeRel(t, "refinecam."+key+".weights", r.Layers[i].Weights, wantW, 1e-4)
		}
	})
}

// runTarget computes a method for one explicit target.
func (c *oracleCase) runTarget(t *testing.T, req Request, tg Target) *Result {
	t.Helper()
	s := c.session(t, &req)
	req.Targets = []Target{tg}
	r, err := Compute(s, req)
	if err != nil {
		t.Fatalf("%s: %v", req.Method, err)
	}
	return r
}

func TestOracleExtTinyCNN(t *testing.T) { checkExt(t, "tinycnn-ext", "model.onnx", false) }
func TestOracleExtResNet18(t *testing.T) {
	checkExt(t, "resnet18-ext", filepath.Join("..", "resnet18", "model_bn.onnx"), false)
}

// The extension's methods are all of the fast tier: with Request.FastTier,
// as the page runs them, at the same tolerances.
func TestOracleExtFastTier(t *testing.T) {
	checkExt(t, "tinycnn-ext", "model.onnx", true)
	checkExt(t, "resnet18-ext", filepath.Join("..", "resnet18", "model_bn.onnx"), true)
	checkShapley(t, "tinycnn-ext", "model.onnx", true)
	checkShapley(t, "resnet18-ext", filepath.Join("..", "resnet18", "model_bn.onnx"), true)
}

// ShapleyCAM with the logit target (the Hessian is zero through ReLUs, and
// must come out exactly zero) and the ReST target, with its gradient and
// Hessian-vector product.
func checkShapley(t *testing.T, name, file string, fast bool) {
	c := setupOracle(t, name, file)
	c.fast = fast
	for _, key := range []string{"mid", "last"} {
		layer := c.o.Layers[key].OnnxTensor
		for _, v := range []struct {
			ref string
			tg  Target
		}{{"shapleycam", Target{Class: c.o.TargetClass}}, {"shapleycam_rest", Target{Kind: ReST, Class: c.o.TargetClass}}} {
			ref := key + "." + v.ref
			t.Run(name+"/"+ref, func(t *testing.T) {
				r := c.runTarget(t, Request{Method: "shapleycam", Layers: []string{layer}}, v.tg)
				wantRaw, _ := c.o.F32(ref + ".raw")
				closeRel(t, ref+".raw", r.Layers[0].Raw, wantRaw, 1e-4)
				wantW, _ := c.o.F32(ref + ".weights")
				closeRel(t, ref+".weights", r.Layers[0].Weights, wantW, 1e-4)
				want, err := c.o.F32(ref + ".cam")
				if err != nil {
					t.Fatal(err)
				}
				closeAbs(t, ref+".cam", r.Maps, want, 2e-3)
				act, _, _ := c.main(t).Activation(layer)
				g, _, err := c.main(t).Gradients([]Target{v.tg}, []string{layer})
				if err != nil {
					t.Fatal(err)
				}
				wantG, _ := c.o.F32(ref + ".grad")
				closeRel(t, ref+".grad", g[layer].F32(), wantG, 1e-4)
				hvp, err := c.main(t).HVP([]Target{v.tg}, layer, act)
				if err != nil {
					t.Fatal(err)
				}
				wantH, _ := c.o.F32(ref + ".hvp")
				if v.tg.Kind == Logit {
					for i, h := range hvp.F32() {
						if h != 0 || wantH[i] != 0 {
							t.Fatalf("%s.hvp[%d] = %g (reference %g), want exactly 0", ref, i, h, wantH[i])
						}
					}
					return
				}
				closeRel(t, ref+".hvp", hvp.F32(), wantH, 1e-4)
			})
		}
	}
}

func TestOracleShapleyTinyCNN(t *testing.T) { checkShapley(t, "tinycnn-ext", "model.onnx", false) }
func TestOracleShapleyResNet18(t *testing.T) {
	checkShapley(t, "resnet18-ext", filepath.Join("..", "resnet18", "model_bn.onnx"), false)
}
