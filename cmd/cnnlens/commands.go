package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

func runInfo(args []string, stdout io.Writer) error {
	var f modelFlags
	fs := newFlags("info")
	f.register(fs, false)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	l, err := f.load()
	if err != nil {
		return err
	}
	m := l.m
	layers, err := m.Layers()
	if err != nil {
		return err
	}
	suggested, _ := m.SuggestedLayer()
	if *asJSON {
		type jl struct {
			Node   string `json:"node"`
			Op     string `json:"op"`
			Output string `json:"output"`
			Shape  []int  `json:"shape"`
		}
		out := struct {
			Input          string `json:"input"`
			InputShape     []int  `json:"input_shape"`
			Output         string `json:"output"`
			Opset          int    `json:"opset"`
			Params         int    `json:"params"`
			SuggestedLayer string `json:"suggested_layer"`
			Layers         []jl   `json:"layers"`
		}{m.Input, m.InputShape, m.Output, m.Opset, m.Graph.ParamCount(), suggested, nil}
		for _, ly := range layers {
			out.Layers = append(out.Layers, jl{ly.Node, ly.Op, ly.Output, ly.Shape})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		return enc.Encode(out)
	}
	fmt.Fprintf(stdout, "input: %s %s\n", m.Input, dynShape(m.InputShape))
	fmt.Fprintf(stdout, "output: %s\nopset: %d\nparameters: %d\n", m.Output, m.Opset, m.Graph.ParamCount())
	fmt.Fprintf(stdout, "suggested Grad-CAM layer: %s\n\n", suggested)
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "node\top\toutput\tshape")
	for _, ly := range layers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ly.Node, ly.Op, ly.Output, tensor.ShapeString(ly.Shape))
	}
	return tw.Flush()
}

func dynShape(s []int) string {
	if s == nil {
		return "(no declared shape)"
	}
	out := ""
	for k, d := range s {
		if k > 0 {
			out += "×"
		}
		if d < 0 {
			out += "N"
		} else {
			out += fmt.Sprint(d)
		}
	}
	return out
}

type classProb struct {
	Class int     `json:"class"`
	Label string  `json:"label,omitempty"`
	Prob  float64 `json:"prob"`
	Logit float32 `json:"logit"`
}

// presentClass is a class a multi-label model finds in the image.
type presentClass struct {
	Class int     `json:"class"`
	Label string  `json:"label"`
	Prob  float64 `json:"prob"`
}

type prediction struct {
	ClassIndex int         `json:"class_index"`
	Label      string      `json:"label,omitempty"`
	Score      float64     `json:"score"`
	Top5       []classProb `json:"top5"`
	// Present lists, for a multi-label model, every class with a sigmoid
	// probability of at least 0.5, most probable first.
	Present *[]presentClass `json:"present,omitempty"`
}

// topK ranks one row of logits by softmax probability or, for a
// multi-label model, by each class's sigmoid probability, and lists the
// classes present.
func topK(logits []float32, labels []string, k int, multilabel bool) prediction {
	var p prediction
	for _, r := range model.TopK(logits, k) {
		cp := classProb{Class: r.Class, Prob: r.Prob, Logit: r.Logit}
		if multilabel {
			cp.Prob = sigmoid(float64(r.Logit))
		}
		if r.Class < len(labels) {
			cp.Label = labels[r.Class]
		}
		p.Top5 = append(p.Top5, cp)
	}
	p.ClassIndex, p.Label, p.Score = p.Top5[0].Class, p.Top5[0].Label, p.Top5[0].Prob
	if multilabel {
		present := []presentClass{}
		for _, r := range model.TopK(logits, len(logits)) {
			if pr := sigmoid(float64(r.Logit)); pr >= 0.5 {
				pc := presentClass{Class: r.Class, Prob: pr}
				if r.Class < len(labels) {
					pc.Label = labels[r.Class]
				}
				present = append(present, pc)
			}
		}
		p.Present = &present
	}
	return p
}

// sigmoid is 1/(1+e^−z), without overflow.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func runPredict(args []string, stdout io.Writer) error {
	var f modelFlags
	fs := newFlags("predict")
	f.register(fs, true)
	asJSON := fs.Bool("json", false, "print the top-5 classes with probabilities as JSON (a segmentation model: the classes present with their pixel counts)")
	outLogits := fs.String("out-logits", "", "write the logits (the model's whole output: N×classes, N×K×H×W for a segmentation model): a .npy file with that shape, else raw little-endian float32")
	if err := parse(fs, args); err != nil {
		return err
	}
	l, err := f.load()
	if err != nil {
		return err
	}
	x, err := f.input(l)
	if err != nil {
		return err
	}
	start := time.Now()
	run, err := l.m.Forward(x, &graph.Options{NoTape: true})
	if err != nil {
		return err
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	logits := run.Value(l.m.Output)
	if *outLogits != "" {
		if err := writeTensor(*outLogits, logits.F32(), logits.Shape()...); err != nil {
			return err
		}
	}
	n := x.Shape()[0]
	if _, _, _, ok := segShape(logits, n); ok {
		return printSegPredictions(stdout, segPredict(logits, n, l.card.Labels), *asJSON, ms)
	}
	if logits.Len()%n != 0 || logits.Len() == 0 {
		return fmt.Errorf("output %q has shape %s, not one row of scores per image", l.m.Output, tensor.ShapeString(logits.Shape()))
	}
	per := logits.Len() / n
	preds := make([]prediction, n)
	for b := 0; b < n; b++ {
		preds[b] = topK(logits.F32()[b*per:(b+1)*per], l.card.Labels, 5, l.card.Multilabel)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if n == 1 {
			return enc.Encode(struct {
				prediction
				MS float64 `json:"ms"`
			}{preds[0], ms})
		}
		return enc.Encode(struct {
			Images []prediction `json:"images"`
			MS     float64      `json:"ms"`
		}{preds, ms})
	}
	for b, p := range preds {
		if n > 1 {
			fmt.Fprintf(stdout, "image %d:\n", b)
		}
		for r, c := range p.Top5 {
			fmt.Fprintf(stdout, "%d. class %d %s  p=%.4f  logit=%.4f\n", r+1, c.Class, c.Label, c.Prob, c.Logit)
		}
		if p.Present != nil {
			names := []string{}
			for _, c := range *p.Present {
				names = append(names, fmt.Sprintf("%s (%.4f)", c.Label, c.Prob))
			}
			fmt.Fprintf(stdout, "present (sigmoid p ≥ 0.5): %s\n", strings.Join(names, ", "))
		}
	}
	fmt.Fprintf(stdout, "forward: %.1f ms\n", ms)
	return nil
}

func runFeatures(args []string, stdout io.Writer) error {
	var f modelFlags
	fs := newFlags("features")
	f.register(fs, true)
	layer := fs.String("layer", "", "layer: an ONNX value name or a node name (required)")
	out := fs.String("out", "", "output file (required): a .npy file with the layer's shape, else raw little-endian float32")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *layer == "" || *out == "" {
		return fmt.Errorf("%w: -layer and -out are required", errUsage)
	}
	l, err := f.load()
	if err != nil {
		return err
	}
	value, err := l.m.ResolveLayer(*layer)
	if err != nil {
		return err
	}
	x, err := f.input(l)
	if err != nil {
		return err
	}
	run, err := l.m.Forward(x, &graph.Options{NoTape: true, Keep: []string{value}})
	if err != nil {
		return err
	}
	v := run.Value(value)
	if v.DType() != tensor.Float32 {
		return fmt.Errorf("layer %q holds %s values, not float32 features", *layer, v.DType())
	}
	if err := writeTensor(*out, v.F32(), v.Shape()...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", value, tensor.ShapeString(v.Shape()))
	return nil
}
