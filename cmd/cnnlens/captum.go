package main

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/cnnlens/cnnlens/engine/cam"
)

// attrFlags are the cam command's flags for the input attributions
// (saliency, smoothgrad, integrated-gradients and Captum's methods).
type attrFlags struct {
	fs                                      *flag.FlagSet
	window, stride, superpixel, steps, nums int
	noise                                   float64
	outAttr                                 string
}

func (a *attrFlags) register(fs *flag.FlagSet) {
	a.fs = fs
	fs.IntVar(&a.window, "window", 0, "occlusion: side of the square window, all channels (default: an eighth of the image's smaller side)")
	fs.IntVar(&a.stride, "stride", 0, "occlusion: step between windows, at most -window (default: half the window)")
	fs.IntVar(&a.superpixel, "superpixel", 0, "featureablation: side of the square features (default: an eighth of the image's smaller side)")
	fs.IntVar(&a.steps, "steps", 0, "integrated-gradients: Gauss–Legendre points (default 50)")
	fs.IntVar(&a.nums, "samples", 0, "smoothgrad, smoothgrad-sq, vargrad (default 25), gradientshap (default 5): number of random samples")
	fs.Float64Var(&a.noise, "noise", 0, "noise σ as a fraction of the input's range: smoothgrad, smoothgrad-sq, vargrad (default 0.15; negative: none), gradientshap (default 0)")
	if fs.Lookup("seed") == nil {
		fs.Int64("seed", 0, "seed of the random methods (smoothgrad, smoothgrad-sq, vargrad, gradientshap, …)")
	}
	fs.StringVar(&a.outAttr, "out-attr", "", "write the input attribution, N×C×H×W like the input (saliency, smoothgrad, integrated-gradients and Captum's methods): a .npy file with that shape, else raw little-endian float32")
}

// apply copies the flags into an engine request.
func (a *attrFlags) apply(req *cam.Request) error {
	for _, c := range []struct {
		name string
		v    int
	}{{"window", a.window}, {"stride", a.stride}, {"superpixel", a.superpixel}, {"steps", a.steps}, {"samples", a.nums}} {
		if c.v < 0 {
			return fmt.Errorf("%w: -%s must be positive, got %d", errUsage, c.name, c.v)
		}
	}
	req.Window, req.Stride, req.Superpixel = a.window, a.stride, a.superpixel
	req.Steps, req.Samples, req.NoiseLevel = a.steps, a.nums, a.noise
	seed, err := strconv.ParseInt(a.fs.Lookup("seed").Value.String(), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: -seed: %w", errUsage, err)
	}
	req.Seed = seed
	return nil
}

// writeAttr writes a result's input attribution (-out-attr).
func (a *attrFlags) writeAttr(r *cam.Result, input string, shape []int) error {
	if a.outAttr == "" {
		return nil
	}
	if len(r.Layers) != 1 || r.Layers[0].Layer != input || len(r.Layers[0].Raw) != shapeSize(shape) {
		return fmt.Errorf("%w: method %s gives no input attribution to write with -out-attr (the input methods do: saliency, smoothgrad, integrated-gradients and Captum's)", errUsage, r.Method)
	}
	return writeTensor(a.outAttr, r.Layers[0].Raw, shape...)
}

func shapeSize(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
