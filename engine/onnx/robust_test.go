package onnx

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// safeDecode decodes data, turning a panic into a test failure that shows
// how to reproduce it.
func safeDecode(t *testing.T, data []byte, what string) (m *Model, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Decode panicked on %s: %v\n%s", what, r, debug.Stack())
		}
	}()
	m, err = Decode(data, DecodeOptions{})
	if err != nil && !strings.HasPrefix(err.Error(), "onnx: ") {
		t.Fatalf("%s: error without prefix: %v", what, err)
	}
	if err == nil && m.Graph == nil {
		t.Fatalf("%s: no error and no graph", what)
	}
	return m, err
}

func TestTruncated(t *testing.T) {
	data := readOracle(t, "tinycnn", "model.onnx")
	step := 1
	if testing.Short() {
		step = 13
	}
	failed, decoded := 0, 0
	for n := 0; n < len(data); n += step {
		if _, err := safeDecode(t, data[:n], fmt.Sprintf("the first %d bytes", n)); err != nil {
			failed++
		} else {
			decoded++
		}
	}
	// The graph is the last field torch writes but for the opset import, so
	// a prefix decodes only once the graph is complete.
	t.Logf("%d prefixes: %d errors, %d decoded", failed+decoded, failed, decoded)
	if decoded > 3*step+3 {
		t.Errorf("%d truncated files decoded without error", decoded)
	}
}

func TestByteFlips(t *testing.T) {
	data := readOracle(t, "tinycnn", "model.onnx")
	rng := rand.New(rand.NewPCG(1, 2))
	runs := 3000
	if testing.Short() || runtime.GOOS == "js" {
		runs = 500
	}
	buf := make([]byte, len(data))
	errs := 0
	for r := range runs {
		copy(buf, data)
		var flips []string
		for range 1 + rng.IntN(4) {
			k := rng.IntN(len(buf))
			v := byte(rng.IntN(256))
			buf[k] = v
			flips = append(flips, fmt.Sprintf("[%d]=%#02x", k, v))
		}
		if _, err := safeDecode(t, buf, fmt.Sprintf("run %d with %s", r, strings.Join(flips, " "))); err != nil {
			errs++
		}
	}
	t.Logf("%d corrupted files: %d errors", runs, errs)
}

// TestEveryByte overwrites each byte of the model in turn.
func TestEveryByte(t *testing.T) {
	data := readOracle(t, "tinycnn", "model.onnx")
	stride := 1
	if runtime.GOOS == "js" {
		stride = 4 // about ten times slower under wasm
	}
	buf := make([]byte, len(data))
	errs, runs := 0, 0
	for k := 0; k < len(data); k += stride {
		runs++
		copy(buf, data)
		buf[k] = []byte{0x00, 0xff, 0x80, data[k] ^ 0x01, data[k] + 1}[k%5]
		if _, err := safeDecode(t, buf, fmt.Sprintf("byte %d set to %#02x", k, buf[k])); err != nil {
			errs++
		}
	}
	t.Logf("%d one-byte changes: %d errors", runs, errs)
}

func FuzzDecode(f *testing.F) {
	data, err := os.ReadFile(oracle("tinycnn", "model.onnx"))
	if err != nil {
		f.Fatalf("shared oracle file missing: %v", err)
	}
	f.Add(data)
	f.Add(withInit(pbBytes(tensorPB("W", TypeFloat16, 2, 1), tensorRawData, []byte{0, 0x3c, 0, 0xc0})))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data, DecodeOptions{MaxTensorBytes: 1 << 20})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "onnx: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if m.Graph == nil || m.Graph.Initializers == nil {
			t.Fatal("model without graph")
		}
		for _, n := range m.Graph.Nodes {
			for _, a := range n.Attrs.Names() {
				n.Attrs.Ints(a, nil)
				n.Attrs.Tensor(a)
			}
		}
		_, _, _ = DecodeTensor(data, DecodeOptions{MaxTensorBytes: 1 << 20})
	})
}

// conformanceDir holds the ONNX backend node tests (Debian package
// libonnx-testdata, ONNX 1.12).
const conformanceDir = "/usr/share/libonnx-testdata/data/node"

// Reasons an ONNX test file may legitimately fail to decode.
var documentedErrors = []string{
	"data type STRING is not supported",
	"data type COMPLEX64 is not supported",
	"data type COMPLEX128 is not supported",
	"data type UNDEFINED with string data is not supported",
}

// testDataQuirks are the ONNX 1.12 test tensors that disagree with their
// own model: BFLOAT16 values are stored as UINT16 tensors (numpy has no
// bfloat16), and CastLike's "like" input is a 1-element tensor although the
// model declares [3 4].
var testDataQuirks = map[string]string{}

func init() {
	const bf16 = "BFLOAT16 data stored as UINT16"
	const like = `CastLike "like" input of shape [1] declared [3 4]`
	for _, k := range []string{
		"test_cast_BFLOAT16_to_FLOAT/input_0.pb",
		"test_cast_FLOAT_to_BFLOAT16/output_0.pb",
		"test_castlike_BFLOAT16_to_FLOAT/input_0.pb",
		"test_castlike_BFLOAT16_to_FLOAT_expanded/input_0.pb",
		"test_castlike_FLOAT_to_BFLOAT16/output_0.pb",
		"test_castlike_FLOAT_to_BFLOAT16_expanded/output_0.pb",
	} {
		testDataQuirks[k] = bf16
	}
	for _, k := range []string{
		"test_castlike_BFLOAT16_to_FLOAT/input_1.pb",
		"test_castlike_BFLOAT16_to_FLOAT_expanded/input_1.pb",
		"test_castlike_FLOAT_to_BFLOAT16/input_1.pb",
		"test_castlike_FLOAT_to_BFLOAT16_expanded/input_1.pb",
	} {
		testDataQuirks[k] = like
	}
}

func documented(err error) bool {
	for _, s := range documentedErrors {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

// TestConformanceData decodes every model and test tensor of the ONNX node
// tests, and checks each tensor against the type and shape its model
// declares for it.
func TestConformanceData(t *testing.T) {
	dirs, err := os.ReadDir(conformanceDir)
	if err != nil {
		t.Fatalf("ONNX test data not installed (make deps installs libonnx-testdata): %v", err)
	}
	var (
		models, modelErrs, tensors, tensorErrs, nonTensor, quirks int
		reasons                                                   = map[string]int{}
	)
	reason := func(err error) string {
		for _, s := range documentedErrors {
			if strings.Contains(err.Error(), s) {
				return s
			}
		}
		return err.Error()
	}
	for _, dir := range dirs {
		path := filepath.Join(conformanceDir, dir.Name())
		data, err := os.ReadFile(filepath.Join(path, "model.onnx"))
		if err != nil {
			continue
		}
		models++
		m, err := safeDecode(t, data, path)
		if err != nil {
			modelErrs++
			reasons["model: "+reason(err)]++
			if !documented(err) {
				t.Errorf("%s: %v", dir.Name(), err)
			}
		}
		// input_K.pb goes with the K-th graph input that is not an
		// initializer, output_K.pb with the K-th output.
		var ins, outs []ValueInfo
		if m != nil {
			for _, vi := range m.Graph.Inputs {
				if m.Graph.Initializers[vi.Name] == nil {
					ins = append(ins, vi)
				}
			}
			outs = m.Graph.Outputs
		}
		pbs, _ := filepath.Glob(filepath.Join(path, "test_data_set_0", "*.pb"))
		sort.Strings(pbs)
		for _, pb := range pbs {
			data, err := os.ReadFile(pb)
			if err != nil {
				t.Fatal(err)
			}
			var vi *ValueInfo
			var k int
			base := filepath.Base(pb)
			if _, err := fmt.Sscanf(base, "input_%d.pb", &k); err == nil && k < len(ins) {
				vi = &ins[k]
			} else if _, err := fmt.Sscanf(base, "output_%d.pb", &k); err == nil && k < len(outs) {
				vi = &outs[k]
			}
			x, name, err := safeDecodeTensor(t, data, pb)
			if vi == nil || vi.Kind != "tensor" {
				// A SequenceProto, OptionalProto or MapProto (or a file we
				// cannot match to its model): only "no panic" applies.
				nonTensor++
				continue
			}
			tensors++
			if err != nil {
				tensorErrs++
				reasons["tensor: "+reason(err)]++
				if !documented(err) {
					t.Errorf("%s/%s: %v", dir.Name(), base, err)
				}
				continue
			}
			// The tensor must match the model's declaration, but for the
			// test data's own inconsistencies.
			if q, ok := testDataQuirks[dir.Name()+"/"+base]; ok {
				quirks++
				reasons["quirk: "+q]++
				continue
			}
			if vi.HasShape {
				ok := len(vi.Shape) == x.Rank()
				for d := 0; ok && d < len(vi.Shape); d++ {
					ok = vi.Shape[d] < 0 || vi.Shape[d] == int64(x.Shape()[d])
				}
				if !ok {
					t.Errorf("%s/%s (%q): shape %v, model declares %v", dir.Name(), base, name, x.Shape(), vi.Shape)
				}
			}
			if dt, ok := dtypes[vi.ElemType]; ok && dt.out != x.DType() {
				t.Errorf("%s/%s: %v, model declares %s", dir.Name(), base, x, TypeName(vi.ElemType))
			}
		}
	}
	t.Logf("models: %d decoded, %d errors; tensor .pb files: %d decoded (%d not checked against the model), %d errors; %d non-tensor .pb files (sequence/optional/map)",
		models-modelErrs, modelErrs, tensors-tensorErrs, quirks, tensorErrs, nonTensor)
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("  %4d × %s", reasons[k], k)
	}
	if models < 900 {
		t.Errorf("only %d models found in %s", models, conformanceDir)
	}
}

func safeDecodeTensor(t *testing.T, data []byte, what string) (x *tensor.T, name string, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("DecodeTensor panicked on %s: %v\n%s", what, r, debug.Stack())
		}
	}()
	tt, name, err := DecodeTensor(data, DecodeOptions{})
	if err != nil {
		if !strings.HasPrefix(err.Error(), "onnx: ") {
			t.Fatalf("%s: error without prefix: %v", what, err)
		}
		return nil, name, err
	}
	return tt, name, nil
}

// TestConformanceCasts checks decoded values against the ONNX Cast tests,
// whose outputs are their inputs converted as this package converts them.
func TestConformanceCasts(t *testing.T) {
	for _, name := range []string{"test_cast_FLOAT16_to_FLOAT", "test_cast_DOUBLE_to_FLOAT"} {
		dir := filepath.Join(conformanceDir, name, "test_data_set_0")
		in, err := os.ReadFile(filepath.Join(dir, "input_0.pb"))
		if err != nil {
			t.Fatalf("ONNX test data not installed (make deps installs libonnx-testdata): %v", err)
		}
		out, err := os.ReadFile(filepath.Join(dir, "output_0.pb"))
		if err != nil {
			t.Fatal(err)
		}
		x, _, err1 := DecodeTensor(in, DecodeOptions{})
		y, _, err2 := DecodeTensor(out, DecodeOptions{})
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v, %v", name, err1, err2)
		}
		if !tensor.SameShape(x.Shape(), y.Shape()) || x.Len() == 0 {
			t.Fatalf("%s: %v, %v", name, x, y)
		}
		for k, v := range x.F32() {
			w := y.F32()[k]
			if v != w && !(v != v && w != w) {
				t.Errorf("%s: element %d: input decodes to %v, expected output %v", name, k, v, w)
			}
		}
	}
}
