package train

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// toyMulti is the toy task as two labels: a blob in channel 0, a blob in
// channel 1 (both, one or none).
type toyMulti struct{ toy }

func (d toyMulti) Example(i int, dst []float32, rng *rand.Rand) int {
	return [4]int{1, 2, 3, 0}[d.toy.Example(i, dst, rng)]
}

var toyMultiSpec = Spec{Channels: 2, Height: 12, Width: 12, Classes: 2, Blocks: []Block{{Out: 4, Pool: true}, {Out: 6}}}

func trainToyMulti(t *testing.T, cfg Config) (*Net, *Result) {
	t.Helper()
	cfg.Multilabel = true
	n := NewNet(toyMultiSpec, 5)
	tr, err := NewTrainer(n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run(toyMulti{toy{128}})
	if err != nil {
		t.Fatal(err)
	}
	return n, res
}

// The multi-label path (sigmoid, binary cross-entropy) is deterministic
// too, and learns the toy task's sets.
func TestMultilabelDeterministic(t *testing.T) {
	a, ra := trainToyMulti(t, toyConfig())
	b, rb := trainToyMulti(t, toyConfig())
	for _, name := range a.Order {
		if !reflect.DeepEqual(a.Params[name].F32(), b.Params[name].F32()) {
			t.Fatalf("parameter %q differs between two identical runs", name)
		}
	}
	if ra.Epochs[1].Loss != rb.Epochs[1].Loss {
		t.Fatalf("losses differ: %v vs %v", ra.Epochs[1].Loss, rb.Epochs[1].Loss)
	}
	cfg := toyConfig()
	cfg.Epochs = 12
	n, res := trainToyMulti(t, cfg)
	if last := res.Epochs[len(res.Epochs)-1].Loss; last > 0.5*res.Epochs[0].Loss {
		t.Fatalf("loss went from %.3f to %.3f", res.Epochs[0].Loss, last)
	}
	g, err := n.Graph(false)
	if err != nil {
		t.Fatal(err)
	}
	acc, logits, sets, err := EvaluateSets(g, toyMulti{toy{64}}, 32, 0)
	if err != nil {
		t.Fatal(err)
	}
	mAP := MeanAveragePrecision(logits, sets)
	t.Logf("toy sets: exact-set accuracy %.3f, mAP %.3f", acc, mAP)
	if acc < 0.9 || mAP < 0.95 {
		t.Fatalf("exact-set accuracy %.3f, mAP %.3f on the toy task", acc, mAP)
	}
}

// SigmoidBCE's loss and gradient: the gradient matches a central finite
// difference of the loss (divided by the batch), and the exact-set count.
func TestSigmoidBCEGradient(t *testing.T) {
	logits := tensor.FromF32([]float32{2.5, -1, 0.3, -30, 40, 0.01, -0.2, 1}, 2, 4)
	labels := []int{0b1001, 0b0110}
	grad, loss, correct := SigmoidBCE(logits, labels)
	lossAt := func(l []float32) float64 {
		_, v, _ := SigmoidBCE(tensor.FromF32(l, 2, 4), labels)
		return v
	}
	// by hand, the first element: y = 1, z = 2.5
	if want := math.Log1p(math.Exp(-2.5)); math.Abs(lossAt([]float32{2.5, 0, 0, 0, 0, 0, 0, 0})-(want+3*math.Log(2)+4*math.Log(2))) > 1e-9 {
		t.Errorf("loss of one element: %v", lossAt([]float32{2.5, 0, 0, 0, 0, 0, 0, 0}))
	}
	const h = 1e-3
	base := append([]float32(nil), logits.F32()...)
	for i := range base {
		up := append([]float32(nil), base...)
		dn := append([]float32(nil), base...)
		up[i] += h
		dn[i] -= h
		fd := (lossAt(up) - lossAt(dn)) / (float64(up[i]) - float64(dn[i])) / 2
		if g := float64(grad.F32()[i]); math.Abs(g-fd) > 1e-4 {
			t.Errorf("d loss/d z[%d]: analytic %.6f, finite difference %.6f", i, g, fd)
		}
	}
	// Row 0: set {0, 3}, predicted {0, 2} → wrong; row 1: set {1, 2},
	// predicted {0, 1, 3}: wrong.
	if correct != 0 {
		t.Errorf("%d exact sets, want 0", correct)
	}
	if _, _, c := SigmoidBCE(tensor.FromF32([]float32{3, -1, -2, 4}, 1, 4), []int{0b1001}); c != 1 {
		t.Errorf("exact set not counted")
	}
	if math.IsNaN(loss) || loss <= 0 {
		t.Errorf("loss %v", loss)
	}
}

// Average precision by hand: class 0 ranks its positives 1st and 3rd
// (AP = (1 + 2/3)/2), class 1 ranks its only positive 1st (AP 1).
func TestMeanAveragePrecision(t *testing.T) {
	logits := [][]float32{{0.9, 0.1}, {0.5, 0.8}, {0.4, 0.2}}
	sets := []int{0b01, 0b10, 0b01}
	want := ((1+2.0/3)/2 + 1) / 2
	if got := MeanAveragePrecision(logits, sets); math.Abs(got-want) > 1e-12 {
		t.Errorf("mAP %v, want %v", got, want)
	}
	if PredictedSet([]float32{0, -0.1, 2}) != 0b101 {
		t.Error("PredictedSet")
	}
}
