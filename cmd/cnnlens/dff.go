package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// runDFF factorises a layer's activations into concepts (Deep Feature
// Factorization) and says which classes each concept stands for.
func runDFF(args []string, stdout io.Writer) error {
	var f modelFlags
	fs := newFlags("dff")
	f.register(fs, true)
	layer := fs.String("layer", "", "layer to factorise: value or node name (default: the model's last convolutional block)")
	k := fs.Int("n", 5, "number of concepts")
	top := fs.Int("top", 3, "classes listed per concept")
	out := fs.String("out", "", "write the concepts over the image, one colour each, with a legend, as PNG")
	asJSON := fs.Bool("json", false, "print rel_error and each concept's top classes as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *k < 1 {
		return fmt.Errorf("%w: -n must be at least 1, got %d", errUsage, *k)
	}
	if *top < 1 {
		return fmt.Errorf("%w: -top must be at least 1, got %d", errUsage, *top)
	}
	start := time.Now()
	l, s, err := f.session()
	if err != nil {
		return err
	}
	if *layer == "" {
		if *layer, err = l.m.SuggestedLayer(); err != nil {
			return err
		}
	}
	r, err := cam.DFF(s, *layer, *k, cam.DFFOptions{})
	if err != nil {
		return err
	}
	type class struct {
		Class int     `json:"class"`
		Label string  `json:"label,omitempty"`
		Logit float32 `json:"logit"`
		Prob  float64 `json:"prob"`
	}
	type concept struct {
		Index      int     `json:"index"`
		TopClasses []class `json:"top_classes,omitempty"`
	}
	res := struct {
		Layer    string    `json:"layer"`
		N        int       `json:"n"`
		RelError float64   `json:"rel_error"`
		Concepts []concept `json:"concepts"`
		File     string    `json:"file,omitempty"`
		MS       float64   `json:"ms"`
	}{Layer: r.Layer, N: r.K, RelError: r.RelError, File: *out}
	labels := make([]string, r.K)
	for j := 0; j < r.K; j++ {
		c := concept{Index: j}
		var names []string
		for _, t := range r.TopClasses(j, *top) {
			cl := class{Class: t.Class, Logit: t.Logit, Prob: t.Prob}
			name := fmt.Sprint(t.Class)
			if t.Class < len(l.card.Labels) {
				cl.Label = l.card.Labels[t.Class]
				name = cl.Label
			}
			c.TopClasses = append(c.TopClasses, cl)
			names = append(names, fmt.Sprintf("%s %.2f", name, t.Prob))
		}
		res.Concepts = append(res.Concepts, c)
		labels[j] = fmt.Sprintf("%d: %s", j, strings.Join(names, ", "))
		if names == nil {
			labels[j] = fmt.Sprintf("concept %d", j)
		}
	}
	if *out != "" {
		x := s.Input
		base, err := f.baseImage(l, x)
		if err != nil {
			return err
		}
		// A small picture is enlarged so that the legend's text fits.
		if side := max(base.Bounds().Dx(), base.Bounds().Dy()); side < 256 {
			base = viz.Upscale(base, (256+side-1)/side)
		}
		img, err := viz.ShowFactorizationOnImage(base, r.Maps[:r.K*r.Height*r.Width], r.K, r.Width, r.Height, 0.5, labels)
		if err != nil {
			return err
		}
		if err := writePNG(*out, img); err != nil {
			return err
		}
	}
	res.MS = ms(time.Since(start))
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "DFF of %s: %d concepts, relative error ‖A − WH‖/‖A‖ = %.4f\n", res.Layer, res.N, res.RelError)
	for _, lab := range labels {
		fmt.Fprintln(stdout, "  "+lab)
	}
	return nil
}
