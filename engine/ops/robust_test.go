package ops

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// The newer ops on odd inputs (missing, scalar, empty, int64, mismatched
// shapes, negative or huge sizes): an error or a result, never a panic,
// forward and backward.
func TestOpsOddInputsDoNotPanic(t *testing.T) {
	rng := rand.New(rand.NewSource(18))
	pool := []*tensor.T{
		nil,
		tensor.Scalar(2),
		tensor.New(0),
		tensor.New(2, 0, 3),
		tensor.FromI64([]int64{3}),
		tensor.FromI64([]int64{-1, 5}, 2),
		tensor.FromI64([]int64{1, 2, 1 << 40, 4}, 4),
		tensor.FromI64([]int64{2, 1}, 2, 1),
		tensor.FromF32([]float32{0.5, 2}, 2),
		tensor.FromF32([]float32{1, 1, -3, 1e30}, 4),
		randT(rng, -1, 1, 3),
		randT(rng, -1, 1, 2, 3),
		randT(rng, -1, 1, 1, 2, 3, 3),
		randT(rng, -1, 1, 2, 2, 1, 1),
	}
	types := []string{"LayerNormalization", "InstanceNormalization", "GroupNormalization", "Erf", "Gelu",
		"Equal", "Less", "And", "Not", "Where", "Expand", "Range", "Mod", "ScatterND", "Resize", "Upsample",
		"ConvTranspose", "PRelu", "Min", "Max", "Size", "ReduceL2", "ReduceProd", "ReduceLogSumExp", "Reciprocal",
		"Tile", "DepthToSpace", "SpaceToDepth", "GatherElements", "CumSum", "ArgMax", "CastLike", "Einsum",
		"TopK", "Hardmax", "Trilu", "OneHot", "LRN", "IsInf", "GridSample",
		"ScatterElements", "MaxUnpool", "NonZero", "Compress", "MeanVarianceNormalization", "LpNormalization", "DequantizeLinear", "RMSNormalization", "QuantizeLinear"}
	attrs := MapAttrs{"num_groups": int64(2), "scales": []float32{1, 1, 2, 2}, "blocksize": int64(2), "equation": "...ij,...jk", "size": int64(3)}
	for _, typ := range types {
		a := attrs
		if typ == "MaxUnpool" {
			a = MapAttrs{"kernel_shape": []int64{2, 2}, "strides": []int64{2, 2}}
		}
		op, err := New(typ, a, 18)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		for n := 1; n <= 4; n++ {
			for trial := 0; trial < 300; trial++ {
				in := make([]*tensor.T, n)
				for k := range in {
					in[k] = pool[rng.Intn(len(pool))]
				}
				if err := noPanic(op, in); err != nil {
					t.Fatalf("%s on %s: %v", typ, describe(in), err)
				}
			}
		}
	}
}

func noPanic(op Op, in []*tensor.T) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	out, ferr := op.Forward(in)
	if ferr != nil {
		return nil
	}
	gy := make([]*tensor.T, len(out))
	for k, o := range out {
		if o.DType() == tensor.Float32 {
			gy[k] = tensor.New(o.Shape()...)
		}
	}
	need := make([]bool, len(in))
	for k := range need {
		need[k] = in[k] != nil
	}
	op.Backward(in, out, gy, need)
	return nil
}

func describe(in []*tensor.T) string {
	s := ""
	for _, t := range in {
		if t == nil {
			s += "nil "
		} else {
			s += fmt.Sprintf("%s%v ", t.DType(), t.Shape())
		}
	}
	return s
}
