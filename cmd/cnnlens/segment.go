package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// segClass is a class a segmentation model predicts at some pixels.
type segClass struct {
	Class    int     `json:"class"`
	Label    string  `json:"label,omitempty"`
	Pixels   int     `json:"pixels"`
	Fraction float64 `json:"fraction"`
}

// segPrediction is predict's answer for one image of a segmentation model:
// the classes present (predicted at one pixel or more), most pixels first.
type segPrediction struct {
	ClassIndex int        `json:"class_index"` // the class at most pixels
	Label      string     `json:"label,omitempty"`
	Height     int        `json:"height"`
	Width      int        `json:"width"`
	Classes    []segClass `json:"classes"`
}

// segShape reports whether an output of a batch of n is a segmentation
// map, N×K×H×W with H·W > 1.
func segShape(out *tensor.T, n int) (k, h, w int, ok bool) {
	sh := out.Shape()
	if len(sh) != 4 || sh[0] != n || sh[2]*sh[3] <= 1 {
		return 0, 0, 0, false
	}
	return sh[1], sh[2], sh[3], true
}

// segPredict lists the classes present in each image's segmentation.
func segPredict(out *tensor.T, n int, labels []string) []segPrediction {
	k, h, w, _ := segShape(out, n)
	hw := h * w
	preds := make([]segPrediction, n)
	for b := range preds {
		counts := cam.ClassPixels(cam.SegArgmax(out.F32()[b*k*hw:(b+1)*k*hw], k, hw), k)
		p := segPrediction{Height: h, Width: w, Classes: []segClass{}}
		for c, px := range counts {
			if px > 0 {
				p.Classes = append(p.Classes, segClass{Class: c, Label: labelOf(labels, c), Pixels: px, Fraction: float64(px) / float64(hw)})
			}
		}
		sort.SliceStable(p.Classes, func(i, j int) bool { return p.Classes[i].Pixels > p.Classes[j].Pixels })
		p.ClassIndex, p.Label = p.Classes[0].Class, p.Classes[0].Label
		preds[b] = p
	}
	return preds
}

func labelOf(labels []string, c int) string {
	if c < len(labels) {
		return labels[c]
	}
	return ""
}

// printSegPredictions writes predict's answer for a segmentation model.
func printSegPredictions(stdout io.Writer, preds []segPrediction, asJSON bool, ms float64) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		if len(preds) == 1 {
			return enc.Encode(struct {
				segPrediction
				MS float64 `json:"ms"`
			}{preds[0], ms})
		}
		return enc.Encode(struct {
			Images []segPrediction `json:"images"`
			MS     float64         `json:"ms"`
		}{preds, ms})
	}
	for b, p := range preds {
		if len(preds) > 1 {
			fmt.Fprintf(stdout, "image %d:\n", b)
		}
		fmt.Fprintf(stdout, "segmentation %d×%d, classes present:\n", p.Height, p.Width)
		for _, c := range p.Classes {
			fmt.Fprintf(stdout, "  class %d %s  %d pixels (%.1f %%)\n", c.Class, c.Label, c.Pixels, 100*c.Fraction)
		}
	}
	fmt.Fprintf(stdout, "forward: %.1f ms\n", ms)
	return nil
}
