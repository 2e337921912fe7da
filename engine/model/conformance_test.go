package model

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/onnx"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// onnxTestData is where Debian's libonnx-testdata puts the official
// per-operator conformance tests (make deps installs it).
func onnxTestData() string {
	if d := os.Getenv("CNNLENS_ONNX_TESTDATA"); d != "" {
		return d
	}
	return "/usr/share/libonnx-testdata/data"
}

// conformanceSuites are the folders of the test data with models and data
// sets in them ("real" only names models to download).
var conformanceSuites = []string{"node", "pytorch-converted", "pytorch-operator", "simple"}

// notClaimed lists conformance cases whose ops the engine supports but
// whose attribute combination or data type it does not claim, with the
// reason. Everything else whose ops are all supported must pass.
var notClaimed = map[string]string{
	"test_maxpool_2d_uint8":                    "uint8 data",
	"test_add_uint8":                           "uint8 arithmetic wraps around",
	"test_mul_uint8":                           "uint8 arithmetic wraps around",
	"test_sub_uint8":                           "uint8 arithmetic wraps around",
	"test_div_uint8":                           "uint8 arithmetic wraps around",
	"test_clip_default_int8_inbounds":          "int8 data",
	"test_clip_default_int8_max":               "int8 data",
	"test_clip_default_int8_min":               "int8 data",
	"test_dropout_random_old":                  "training-mode dropout is random",
	"test_training_dropout":                    "training-mode dropout is random",
	"test_training_dropout_default":            "training-mode dropout is random",
	"test_training_dropout_default_mask":       "training-mode dropout is random",
	"test_training_dropout_mask":               "training-mode dropout is random",
	"test_training_dropout_zero_ratio":         "training-mode dropout",
	"test_training_dropout_zero_ratio_mask":    "training-mode dropout",
	"test_cast_FLOAT_to_STRING":                "string tensors",
	"test_cast_STRING_to_FLOAT":                "string tensors",
	"test_castlike_FLOAT_to_STRING_expanded":   "string tensors",
	"test_castlike_STRING_to_FLOAT_expanded":   "string tensors",
	"test_castlike_FLOAT_to_STRING":            "string tensors",
	"test_castlike_STRING_to_FLOAT":            "string tensors",
	"test_castlike_BFLOAT16_to_FLOAT":          "bfloat16 tensors",
	"test_castlike_FLOAT_to_BFLOAT16":          "bfloat16 tensors",
	"test_cast_BFLOAT16_to_FLOAT":              "bfloat16 tensors",
	"test_cast_FLOAT_to_BFLOAT16":              "bfloat16 tensors",
	"test_castlike_BFLOAT16_to_FLOAT_expanded": "bfloat16 tensors",
	"test_castlike_FLOAT_to_BFLOAT16_expanded": "bfloat16 tensors",
	"test_pow_types_float":                     "integer base for Pow",
	"test_pow_types_int32_float32":             "integer base for Pow",
	"test_pow_types_int32_int32":               "integer base for Pow",
	"test_pow_types_int64_float32":             "integer base for Pow",
	"test_pow_types_int64_int64":               "integer base for Pow",
	"test_identity_opt":                        "optional types",
	"test_identity_sequence":                   "sequence types",
}

// hasWindowedOp reports whether a model convolves, pools or normalises
// over spatial axes: the cases of those with "3d" in their name are
// volumetric, which the engine does not claim.
func hasWindowedOp(pm *onnx.Model) bool {
	for _, n := range pm.Graph.Nodes {
		switch n.OpType {
		case "Conv", "ConvTranspose", "MaxPool", "AveragePool", "BatchNormalization", "InstanceNormalization", "GroupNormalization":
			return true
		}
	}
	return false
}

type caseResult struct {
	name, status, detail string
}

// TestONNXConformance runs every official node test whose ops the engine
// supports and prints what it claimed, passed and skipped.
func TestONNXConformance(t *testing.T) {
	root := onnxTestData()
	var cases []string
	for _, suite := range conformanceSuites {
		entries, err := os.ReadDir(filepath.Join(root, suite))
		if err != nil {
			t.Fatalf("ONNX conformance tests not found (install Debian's libonnx-testdata: make deps): %v", err)
		}
		for _, e := range entries {
			cases = append(cases, filepath.Join(suite, e.Name()))
		}
	}
	supported := map[string]bool{}
	for _, op := range ops.Supported() {
		supported[op] = true
	}
	var results []caseResult
	claimedOps := map[string]int{}
	for _, name := range cases {
		dir := filepath.Join(root, name)
		data, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
		if err != nil {
			continue
		}
		pm, err := onnx.Decode(data, onnx.DecodeOptions{})
		if err != nil || pm.Graph == nil {
			results = append(results, caseResult{name, "unsupported", fmt.Sprint(err)})
			continue
		}
		var missing []string
		for _, n := range pm.Graph.Nodes {
			if !supported[n.OpType] || (n.Domain != "" && n.Domain != "ai.onnx") {
				missing = append(missing, n.OpType)
			}
		}
		if len(missing) > 0 {
			results = append(results, caseResult{name, "unsupported", strings.Join(missing, ",")})
			continue
		}
		why, ok := notClaimed[filepath.Base(name)]
		if strings.Contains(strings.ToLower(name), "3d") && hasWindowedOp(pm) {
			why, ok = "3-D (volumetric) convolution and pooling", true
		}
		if ok {
			results = append(results, caseResult{name, "skipped", why})
			continue
		}
		for _, n := range pm.Graph.Nodes {
			claimedOps[n.OpType]++
		}
		if err := runCase(dir, pm); err != nil {
			results = append(results, caseResult{name, "FAILED", err.Error()})
			t.Errorf("%s: %v", name, err)
			continue
		}
		results = append(results, caseResult{name, "passed", ""})
	}
	counts := map[string]int{}
	for _, r := range results {
		counts[r.status]++
	}
	var lines []string
	for _, r := range results {
		switch r.status {
		case "passed":
			lines = append(lines, "  passed  "+r.name)
		case "FAILED", "skipped":
			lines = append(lines, fmt.Sprintf("  %-7s %s: %s", r.status, r.name, r.detail))
		}
	}
	opsList := make([]string, 0, len(claimedOps))
	for op := range claimedOps {
		opsList = append(opsList, op)
	}
	sort.Strings(opsList)
	fmt.Printf("ONNX conformance (%s):\n%s\n", root, strings.Join(lines, "\n"))
	fmt.Printf("ONNX conformance: ops exercised: %s\n", strings.Join(opsList, " "))
	fmt.Printf("ONNX conformance: claimed %d, passed %d, failed %d, skipped %d (attribute combinations not claimed), unsupported %d (ops the engine lacks)\n",
		counts["passed"]+counts["FAILED"], counts["passed"], counts["FAILED"], counts["skipped"], counts["unsupported"])
	fmt.Printf("ONNX conformance: output shapes inferred without running for %d data sets, all equal to the computed ones\n", shapesInferred)
	if shapesInferred < 50 {
		t.Errorf("shapes inferred for only %d data sets", shapesInferred)
	}
	if counts["passed"] < 100 {
		t.Errorf("only %d conformance cases passed", counts["passed"])
	}
}

// shapesInferred counts the data sets whose output shapes the ops' shape
// rules gave without running the graph (and matched the run's).
var shapesInferred int

func runCase(dir string, pm *onnx.Model) error {
	g, err := BuildGraph(pm)
	if err != nil {
		return err
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return fmt.Errorf("no test data sets")
	}
	for _, set := range sets {
		inputs := map[string]*tensor.T{}
		for k, in := range g.Inputs {
			v, err := readPB(filepath.Join(set, fmt.Sprintf("input_%d.pb", k)))
			if err != nil {
				return err
			}
			inputs[in.Name] = v
		}
		if err := g.CheckInputs(inputs); err != nil {
			// Declared shapes of conformance models are exact; keep the
			// data's own shape where the declaration is looser.
			return err
		}
		run, err := g.Forward(inputs, nil)
		if err != nil {
			return err
		}
		// Where the ops' shape rules give the outputs' shapes without
		// running the graph, they must be the shapes the run produced.
		inShapes := map[string][]int{}
		for name, v := range inputs {
			inShapes[name] = v.Shape()
		}
		if inferred, ok := g.InferShapes(inShapes); ok {
			shapesInferred++
			for _, name := range g.Outputs {
				want, have := inferred[name]
				if got := run.Value(name); have && got != nil && !slices.Equal(want, got.Shape()) {
					return fmt.Errorf("%s output %q: shape inferred %v, computed %v", filepath.Base(set), name, want, got.Shape())
				}
			}
		}
		for k, name := range g.Outputs {
			want, err := readPB(filepath.Join(set, fmt.Sprintf("output_%d.pb", k)))
			if err != nil {
				return err
			}
			got := run.Value(name)
			if got == nil {
				return fmt.Errorf("output %q not computed", name)
			}
			if err := compare(got, want); err != nil {
				return fmt.Errorf("%s output %q: %v", filepath.Base(set), name, err)
			}
		}
	}
	return nil
}

func readPB(path string) (*tensor.T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, _, err := onnx.DecodeTensor(data, onnx.DecodeOptions{})
	return t, err
}

// compare applies the ONNX backend tests' tolerance (rtol 1e-3, atol 1e-7;
// a little looser for float32 accumulation order) and exact equality for
// integers.
func compare(got, want *tensor.T) error {
	if !tensor.SameShape(got.Shape(), want.Shape()) {
		return fmt.Errorf("shape %v, want %v", got.Shape(), want.Shape())
	}
	if want.DType() == tensor.Int64 {
		gi := got.Ints()
		for i, w := range want.I64() {
			if int64(gi[i]) != w {
				return fmt.Errorf("[%d] = %d, want %d", i, gi[i], w)
			}
		}
		return nil
	}
	g := got.AsF32()
	for i, w := range want.F32() {
		d := math.Abs(float64(g[i] - w))
		if math.IsNaN(float64(g[i])) != math.IsNaN(float64(w)) || d > 1e-5+1e-3*math.Abs(float64(w)) {
			return fmt.Errorf("[%d] = %g, want %g", i, g[i], w)
		}
	}
	return nil
}
