package train

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Dataset is a labelled set of images, already normalised for the model.
type Dataset interface {
	// Len is the number of examples.
	Len() int
	// Example writes example i (C·H·W values, CHW order) into dst and
	// returns its class (for a multi-label run, the set of its classes as
	// a bit mask: bit k for class k). A non-nil rng asks for a randomly
	// augmented version; the same rng state gives the same augmentation.
	Example(i int, dst []float32, rng *rand.Rand) int
}

// Config is a training run's settings. Training is deterministic: the same
// Config, Net seed and data give bit-identical weights, whatever the
// machine's core count (one goroutine computes every batch; the engine's
// GEMM splits work by output block, never changing a sum's order).
type Config struct {
	Epochs int
	Batch  int
	// Optimizer is "sgd" (default: momentum, PyTorch convention, no
	// dampening; weight decay as L2 in the gradient) or "adamw" (Adam with
	// decoupled weight decay, β = (Momentum, 0.999), ε = 1e-8).
	Optimizer   string
	LR          float64 // peak learning rate
	Momentum    float64 // SGD momentum, Adam's β1
	WeightDecay float64 // on conv and linear weights only
	Warmup      float64 // epochs of linear warm-up before the cosine decay
	Seed        uint64  // shuffling and augmentation
	Augment     bool
	// Multilabel trains one sigmoid per class with binary cross-entropy
	// (the examples' labels are bit masks of the classes present) instead
	// of a softmax; accuracies are then exact-set accuracies.
	Multilabel bool
	// Limit, when > 0, trains on the first Limit examples only.
	Limit int
	// Val, when set, is evaluated after every epoch (ValLimit examples at
	// most, 0 for all).
	Val      Dataset
	ValLimit int
	// Log receives the progress bar and one line per epoch (nil: silent).
	Log io.Writer
	// CheckpointDir, when set, receives last.onnx and last.state after
	// every epoch; with Resume a run continues from them.
	CheckpointDir string
	Resume        bool
}

// EpochStats is one epoch's outcome.
type EpochStats struct {
	Epoch   int     `json:"epoch"`
	Loss    float64 `json:"loss"`
	Acc     float64 `json:"train_accuracy"`
	ValAcc  float64 `json:"val_accuracy,omitempty"`
	Seconds float64 `json:"seconds"`
}

// Result summarises a run.
type Result struct {
	Epochs  []EpochStats `json:"epochs"`
	Seconds float64      `json:"seconds"`
}

// Trainer holds a run's state: the training graph and the momentum
// buffers.
type Trainer struct {
	Net      *Net
	Cfg      Config
	g        *graph.Graph
	velocity map[string][]float32 // SGD momentum, Adam's first moment
	second   map[string][]float32 // Adam's second moment
	steps    int                  // optimizer steps taken (Adam's bias correction)
}

// NewTrainer prepares a run.
func NewTrainer(n *Net, cfg Config) (*Trainer, error) {
	if cfg.Batch <= 0 || cfg.Epochs <= 0 {
		return nil, fmt.Errorf("train: batch and epochs must be positive")
	}
	g, err := n.Graph(true)
	if err != nil {
		return nil, err
	}
	if cfg.Optimizer != "" && cfg.Optimizer != "sgd" && cfg.Optimizer != "adamw" {
		return nil, fmt.Errorf("train: unknown optimizer %q (sgd, adamw)", cfg.Optimizer)
	}
	t := &Trainer{Net: n, Cfg: cfg, g: g, velocity: map[string][]float32{}, second: map[string][]float32{}}
	for _, p := range n.Trainable {
		t.velocity[p] = make([]float32, n.Params[p].Len())
		if cfg.Optimizer == "adamw" {
			t.second[p] = make([]float32, n.Params[p].Len())
		}
	}
	return t, nil
}

// lr is the learning rate at a fractional epoch: linear warm-up, then
// cosine decay to zero at the end of the run.
func (t *Trainer) lr(epoch float64) float64 {
	c := t.Cfg
	if epoch < c.Warmup {
		return c.LR * (epoch + 1e-3) / c.Warmup
	}
	p := (epoch - c.Warmup) / (float64(c.Epochs) - c.Warmup)
	return c.LR * 0.5 * (1 + math.Cos(math.Pi*math.Min(p, 1)))
}

// Step runs one mini-batch: forward in training mode, softmax
// cross-entropy, backward to every trainable parameter, SGD update and the
// BN running statistics. It returns the summed loss and the number of
// correct predictions.
func (t *Trainer) Step(x *tensor.T, labels []int, lr float64) (loss float64, correct int, err error) {
	run, err := t.g.Forward(map[string]*tensor.T{Input: x}, nil)
	if err != nil {
		return 0, 0, err
	}
	logits := run.Value(Output)
	var seed *tensor.T
	if t.Cfg.Multilabel {
		seed, loss, correct = SigmoidBCE(logits, labels)
	} else {
		seed, loss, correct = SoftmaxCrossEntropy(logits, labels)
	}
	grads, err := run.Backward(map[string]*tensor.T{Output: seed}, graph.BackwardOptions{Wrt: t.Net.Trainable})
	if err != nil {
		return 0, 0, err
	}
	for _, name := range t.Net.Order {
		if upd := run.Value(runningName(name)); upd != nil {
			copy(t.Net.Params[name].F32(), upd.F32())
		}
	}
	t.steps++
	if t.Cfg.Optimizer == "adamw" {
		t.adamw(grads, lr)
		return loss, correct, nil
	}
	mom, wd := float32(t.Cfg.Momentum), float32(t.Cfg.WeightDecay)
	lr32 := float32(lr)
	for _, name := range t.Net.Trainable {
		w := t.Net.Params[name].F32()
		g := grads[name].F32()
		v := t.velocity[name]
		decay := t.Net.Decay[name]
		for i := range w {
			gi := g[i]
			if decay {
				gi += wd * w[i]
			}
			v[i] = mom*v[i] + gi
			w[i] -= lr32 * v[i]
		}
	}
	return loss, correct, nil
}

// adamw is one AdamW step (Loshchilov & Hutter; PyTorch's AdamW).
func (t *Trainer) adamw(grads map[string]*tensor.T, lr float64) {
	b1, b2 := t.Cfg.Momentum, 0.999
	c1 := 1 - math.Pow(b1, float64(t.steps))
	c2 := 1 - math.Pow(b2, float64(t.steps))
	step := float32(lr / c1)
	sc2 := float32(1 / math.Sqrt(c2))
	decay := float32(1 - lr*t.Cfg.WeightDecay)
	b1f, b2f := float32(b1), float32(b2)
	for _, name := range t.Net.Trainable {
		w := t.Net.Params[name].F32()
		g := grads[name].F32()
		m, v := t.velocity[name], t.second[name]
		d := t.Net.Decay[name]
		for i := range w {
			if d {
				w[i] *= decay
			}
			m[i] = b1f*m[i] + (1-b1f)*g[i]
			v[i] = b2f*v[i] + (1-b2f)*g[i]*g[i]
			w[i] -= step * m[i] / (float32(math.Sqrt(float64(v[i])))*sc2 + 1e-8)
		}
	}
}

// SoftmaxCrossEntropy returns the gradient of the mean cross-entropy with
// respect to the logits (B×K), the summed loss and the number of correct
// top-1 predictions.
func SoftmaxCrossEntropy(logits *tensor.T, labels []int) (*tensor.T, float64, int) {
	b := len(labels)
	k := logits.Len() / b
	seed := tensor.New(logits.Shape()...)
	var loss float64
	correct := 0
	for i := 0; i < b; i++ {
		row := logits.F32()[i*k : (i+1)*k]
		mx, arg := row[0], 0
		for j, v := range row {
			if v > mx {
				mx, arg = v, j
			}
		}
		if arg == labels[i] {
			correct++
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v - mx))
		}
		loss += math.Log(sum) - float64(row[labels[i]]-mx)
		g := seed.F32()[i*k : (i+1)*k]
		for j, v := range row {
			p := math.Exp(float64(v-mx)) / sum
			if j == labels[i] {
				p--
			}
			g[j] = float32(p / float64(b))
		}
	}
	return seed, loss, correct
}

// SigmoidBCE is the multi-label loss: for each row of logits (B×K) and
// its label set (bit k set when class k is present), the binary
// cross-entropy of sigmoid(logit) against the class's presence, summed
// over the K classes and averaged over the batch. It returns the
// gradient with respect to the logits, (sigmoid(z) − y)/B, the summed
// loss and the number of rows whose predicted set (logit ≥ 0, that is
// probability ≥ 0.5) is exactly the label set.
func SigmoidBCE(logits *tensor.T, labels []int) (*tensor.T, float64, int) {
	b := len(labels)
	k := logits.Len() / b
	seed := tensor.New(logits.Shape()...)
	var loss float64
	correct := 0
	for i := 0; i < b; i++ {
		row := logits.F32()[i*k : (i+1)*k]
		g := seed.F32()[i*k : (i+1)*k]
		exact := true
		for j, v := range row {
			z := float64(v)
			y := float64(labels[i] >> j & 1)
			// log(1+e^z) − y·z, computed stably.
			loss += math.Max(z, 0) - y*z + math.Log1p(math.Exp(-math.Abs(z)))
			g[j] = float32((Sigmoid(z) - y) / float64(b))
			if (z >= 0) != (y == 1) {
				exact = false
			}
		}
		if exact {
			correct++
		}
	}
	return seed, loss, correct
}

// Sigmoid is 1/(1+e^−z), without overflow.
func Sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// exampleRNG is the augmentation randomness of one example in one epoch,
// independent of batch order.
func exampleRNG(seed uint64, epoch, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x61756720, uint64(epoch)<<32|uint64(i)))
}

// runHook lets tests wrap a run (to interrupt one); nil in production.
var runHook func(f func() (*Result, error)) (*Result, error)

// Run trains for the configured epochs (after the checkpointed ones, with
// Resume).
func (t *Trainer) Run(data Dataset) (*Result, error) {
	if runHook != nil {
		return runHook(func() (*Result, error) { return t.run(data) })
	}
	return t.run(data)
}

func (t *Trainer) run(data Dataset) (*Result, error) {
	c := t.Cfg
	n := data.Len()
	if c.Limit > 0 && c.Limit < n {
		n = c.Limit
	}
	sp := t.Net.Spec
	per := sp.Channels * sp.Height * sp.Width
	res := &Result{}
	start := time.Now()
	first := 0
	if c.Resume && c.CheckpointDir != "" {
		e, prev, err := t.loadCheckpoint()
		if err != nil {
			return nil, err
		}
		first = e
		res.Epochs = prev
		if c.Log != nil && e > 0 {
			fmt.Fprintf(c.Log, "resuming after epoch %d from %s\n", e, c.CheckpointDir)
		}
	}
	steps := n / c.Batch // the last partial batch is dropped (BN wants full batches)
	x := tensor.New(c.Batch, sp.Channels, sp.Height, sp.Width)
	labels := make([]int, c.Batch)
	for epoch := first; epoch < c.Epochs; epoch++ {
		es := time.Now()
		order := rand.New(rand.NewPCG(c.Seed, uint64(epoch)+1)).Perm(n)
		var loss float64
		correct, seen := 0, 0
		for s := 0; s < steps; s++ {
			for b := 0; b < c.Batch; b++ {
				i := order[s*c.Batch+b]
				var rng *rand.Rand
				if c.Augment {
					rng = exampleRNG(c.Seed, epoch, i)
				}
				labels[b] = data.Example(i, x.F32()[b*per:(b+1)*per], rng)
			}
			l, k, err := t.Step(x, labels, t.lr(float64(epoch)+float64(s)/float64(steps)))
			if err != nil {
				return nil, err
			}
			if math.IsNaN(l) || math.IsInf(l, 0) {
				return nil, fmt.Errorf("train: loss diverged at epoch %d step %d", epoch+1, s+1)
			}
			loss += l
			correct += k
			seen += c.Batch
			if c.Log != nil && (s%10 == 9 || s == steps-1) {
				progress(c.Log, epoch+1, c.Epochs, s+1, steps, loss/float64(seen), float64(correct)/float64(seen), time.Since(es))
			}
		}
		st := EpochStats{Epoch: epoch + 1, Loss: loss / float64(seen), Acc: float64(correct) / float64(seen)}
		if c.Val != nil {
			g, err := t.Net.Graph(false)
			if err != nil {
				return nil, err
			}
			var acc float64
			if c.Multilabel {
				acc, _, _, err = EvaluateSets(g, c.Val, 250, c.ValLimit)
			} else {
				acc, _, err = Evaluate(g, c.Val, 250, c.ValLimit)
			}
			if err != nil {
				return nil, err
			}
			st.ValAcc = acc
		}
		st.Seconds = time.Since(es).Seconds()
		res.Epochs = append(res.Epochs, st)
		if c.Log != nil {
			fmt.Fprintf(c.Log, "\repoch %2d/%d  loss %.4f  train acc %6.2f%%", st.Epoch, c.Epochs, st.Loss, 100*st.Acc)
			if c.Val != nil {
				fmt.Fprintf(c.Log, "  val acc %6.2f%%", 100*st.ValAcc)
			}
			fmt.Fprintf(c.Log, "  %5.0f s%s\n", st.Seconds, strings.Repeat(" ", 20))
		}
		if c.CheckpointDir != "" {
			if err := t.saveCheckpoint(epoch+1, res.Epochs); err != nil {
				return nil, err
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func progress(w io.Writer, epoch, epochs, step, steps int, loss, acc float64, el time.Duration) {
	const width = 30
	done := width * step / steps
	bar := strings.Repeat("=", done) + strings.Repeat(" ", width-done)
	eta := time.Duration(float64(el) / float64(step) * float64(steps-step))
	fmt.Fprintf(w, "\repoch %2d/%d [%s] %3d%%  loss %.4f  acc %6.2f%%  %s left   ", epoch, epochs, bar, 100*step/steps, loss, 100*acc, eta.Round(time.Second))
}

// Evaluate returns the top-1 accuracy of an inference graph on a dataset
// (the first limit examples, 0 for all) and every prediction.
func Evaluate(g *graph.Graph, data Dataset, batch, limit int) (float64, []int, error) {
	n := data.Len()
	if limit > 0 && limit < n {
		n = limit
	}
	in := g.Inputs[0]
	per := tensor.Size(in.Shape[1:])
	preds := make([]int, n)
	correct := 0
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		shape := append([]int{hi - lo}, in.Shape[1:]...)
		x := tensor.New(shape...)
		labels := make([]int, hi-lo)
		for i := lo; i < hi; i++ {
			labels[i-lo] = data.Example(i, x.F32()[(i-lo)*per:(i-lo+1)*per], nil)
		}
		run, err := g.Forward(map[string]*tensor.T{in.Name: x}, &graph.Options{NoTape: true})
		if err != nil {
			return 0, nil, err
		}
		logits := run.Output(0).F32()
		k := len(logits) / (hi - lo)
		for b := 0; b < hi-lo; b++ {
			row := logits[b*k : (b+1)*k]
			arg := 0
			for j, v := range row {
				if v > row[arg] {
					arg = j
				}
			}
			preds[lo+b] = arg
			if arg == labels[b] {
				correct++
			}
		}
	}
	return float64(correct) / float64(n), preds, nil
}

// EvaluateSets runs a multi-label model on a dataset (the first limit
// examples, 0 for all): the share of examples whose predicted set (logit
// ≥ 0) is exactly the label set, every row of logits and every label set
// (bit masks).
func EvaluateSets(g *graph.Graph, data Dataset, batch, limit int) (float64, [][]float32, []int, error) {
	n := data.Len()
	if limit > 0 && limit < n {
		n = limit
	}
	in := g.Inputs[0]
	per := tensor.Size(in.Shape[1:])
	rows := make([][]float32, n)
	sets := make([]int, n)
	correct := 0
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		shape := append([]int{hi - lo}, in.Shape[1:]...)
		x := tensor.New(shape...)
		for i := lo; i < hi; i++ {
			sets[i] = data.Example(i, x.F32()[(i-lo)*per:(i-lo+1)*per], nil)
		}
		run, err := g.Forward(map[string]*tensor.T{in.Name: x}, &graph.Options{NoTape: true})
		if err != nil {
			return 0, nil, nil, err
		}
		logits := run.Output(0).F32()
		k := len(logits) / (hi - lo)
		for b := 0; b < hi-lo; b++ {
			row := append([]float32(nil), logits[b*k:(b+1)*k]...)
			rows[lo+b] = row
			if PredictedSet(row) == sets[lo+b] {
				correct++
			}
		}
	}
	return float64(correct) / float64(n), rows, sets, nil
}

// PredictedSet is the bit mask of the classes whose logit is ≥ 0
// (sigmoid probability ≥ 0.5).
func PredictedSet(logits []float32) int {
	set := 0
	for j, v := range logits {
		if v >= 0 {
			set |= 1 << j
		}
	}
	return set
}

// MeanAveragePrecision is the mean over classes of the average precision
// of ranking the examples by that class's logit (the mean of the
// precision at the rank of each positive; ties are ranked by example
// order). Classes without positives are left out.
func MeanAveragePrecision(logits [][]float32, sets []int) float64 {
	if len(logits) == 0 {
		return 0
	}
	k := len(logits[0])
	idx := make([]int, len(logits))
	var sum float64
	classes := 0
	for c := 0; c < k; c++ {
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]][c] > logits[idx[b]][c] })
		var ap float64
		pos := 0
		for r, i := range idx {
			if sets[i]>>c&1 == 1 {
				pos++
				ap += float64(pos) / float64(r+1)
			}
		}
		if pos > 0 {
			sum += ap / float64(pos)
			classes++
		}
	}
	return sum / float64(max(classes, 1))
}

// Checkpoints: last.onnx holds the weights and running statistics,
// last.state the momentum buffers (float32, little-endian, in Trainable
// order) and last.json the finished epochs.
func (t *Trainer) saveCheckpoint(epoch int, stats []EpochStats) error {
	dir := t.Cfg.CheckpointDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := t.Net.Encode(map[string]string{"epoch": fmt.Sprint(epoch)})
	if err != nil {
		return err
	}
	var state []byte
	for _, buf := range []map[string][]float32{t.velocity, t.second} {
		for _, p := range t.Net.Trainable {
			for _, v := range buf[p] {
				state = binary.LittleEndian.AppendUint32(state, math.Float32bits(v))
			}
		}
	}
	meta, err := json.Marshal(struct {
		Epoch  int          `json:"epoch"`
		Steps  int          `json:"steps"`
		Epochs []EpochStats `json:"epochs"`
	}{epoch, t.steps, stats})
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"last.onnx": data, "last.state": state, "last.json": meta} {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// loadCheckpoint restores a run; a missing checkpoint means epoch 0.
func (t *Trainer) loadCheckpoint() (int, []EpochStats, error) {
	dir := t.Cfg.CheckpointDir
	metaBytes, err := os.ReadFile(filepath.Join(dir, "last.json"))
	if os.IsNotExist(err) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	var meta struct {
		Epoch  int          `json:"epoch"`
		Steps  int          `json:"steps"`
		Epochs []EpochStats `json:"epochs"`
	}
	if err := json.Unmarshal(metaBytes, &meta); err != nil {
		return 0, nil, fmt.Errorf("train: %s: %w", dir, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "last.onnx"))
	if err != nil {
		return 0, nil, err
	}
	loaded, err := LoadNet(t.Net.Spec, data)
	if err != nil {
		return 0, nil, err
	}
	for _, name := range t.Net.Order {
		copy(t.Net.Params[name].F32(), loaded.Params[name].F32())
	}
	state, err := os.ReadFile(filepath.Join(dir, "last.state"))
	if err != nil {
		return 0, nil, err
	}
	off := 0
	for _, buf := range []map[string][]float32{t.velocity, t.second} {
		for _, p := range t.Net.Trainable {
			v := buf[p]
			if len(state) < off+4*len(v) {
				return 0, nil, fmt.Errorf("train: %s: last.state is too short", dir)
			}
			for i := range v {
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(state[off+4*i:]))
			}
			off += 4 * len(v)
		}
	}
	if off != len(state) {
		return 0, nil, fmt.Errorf("train: %s: last.state does not fit this optimizer", dir)
	}
	t.steps = meta.Steps
	return meta.Epoch, meta.Epochs, nil
}
