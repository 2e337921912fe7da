package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/models/bench"
	"github.com/cnnlens/cnnlens/models/bundled"
	"github.com/cnnlens/cnnlens/models/shapes"
)

// runTrain trains a bundled model from scratch with the engine and writes
// NAME.onnx and its model card NAME.json.
func runTrain(args []string, stdout io.Writer) error {
	fs := newFlags("train")
	name := fs.String("model", "", "model to train: "+strings.Join(bundled.Names(), ", ")+" (required)")
	out := fs.String("out", "models", "folder for NAME.onnx and NAME.json")
	ckpt := fs.String("checkpoint", "", "folder for per-epoch checkpoints (default: build/checkpoints/NAME)")
	resume := fs.Bool("resume", false, "continue from the checkpoint of an interrupted run")
	epochs := fs.Int("epochs", 0, "epochs (default: the recipe's)")
	limit := fs.Int("limit", 0, "train on the first N examples only (quick checks)")
	threads := fs.Int("threads", runtime.NumCPU(), "OS threads for the engine (results do not depend on it)")
	from := fs.String("from", "", "folder of the model a recipe starts from (scenes: shapes.onnx; default: -out)")
	if err := parse(fs, args); err != nil {
		return err
	}
	r, ok := bundled.Recipes[*name]
	if !ok {
		return fmt.Errorf("%w: -model must be one of %s", errUsage, strings.Join(bundled.Names(), ", "))
	}
	if *threads < 1 {
		return fmt.Errorf("%w: -threads must be at least 1", errUsage)
	}
	runtime.GOMAXPROCS(*threads)
	debug.SetGCPercent(400)
	if *ckpt == "" {
		*ckpt = "build/checkpoints/" + r.Name
	}
	card, err := bundled.Train(r, bundled.Options{
		OutDir: *out, CheckpointDir: *ckpt, Resume: *resume, Epochs: *epochs, Limit: *limit,
		Log: os.Stderr, Command: "cnnlens train " + strings.Join(args, " "), Augment: augmentText(r.Name), InitDir: *from,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: test accuracy %.2f%% (%d/%d, %s); trained in %.0f s (%.0f s CPU); wrote %s/%s.onnx and %s.json\n",
		card.Name, 100*card.TestAccuracy, card.TestCorrect, card.TestTotal, card.TestSet, card.Training.Seconds, card.Training.CPUSeconds, *out, card.Name, card.Name)
	return nil
}

func augmentText(name string) string {
	switch name {
	case "fashion":
		return "random shift by up to 1 pixel in x and y (zero padding), horizontal flip with probability 1/2"
	case "scenes":
		return "random shift by up to 2 pixels in x and y (edge padding), horizontal flip with probability 1/2, brightness and contrast jitter ±10%"
	case "shapes":
		return "random shift by up to 4 pixels in x and y (edge padding), horizontal flip with probability 1/2, brightness and contrast jitter ±10%"
	}
	return ""
}

// runShapes writes shapes scenes with their masks and labels.
func runShapes(args []string, stdout io.Writer) error {
	fs := newFlags("shapes")
	n := fs.Int("n", 16, "number of scenes")
	seed := fs.Int64("seed", 0, "seed of the first scene (scene i has seed S+i)")
	out := fs.String("out", "", "output folder (required)")
	size := fs.Int("size", shapes.DefaultSize, "image side in pixels")
	showcase := fs.String("showcase", "", "a multi-label model (its card beside it): write the first -n two-object scenes from -seed on that it reads confidently and where Grad-CAM at its default layer puts each class on its own object (looking at 5000 scenes at most)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: -out is required", errUsage)
	}
	if *showcase != "" {
		return writeShowcases(*showcase, *n, *seed, *out, stdout)
	}
	if *n < 1 {
		return fmt.Errorf("%w: -n must be at least 1", errUsage)
	}
	if *size < 16 || *size > 1024 {
		return fmt.Errorf("%w: -size must be between 16 and 1024", errUsage)
	}
	ids, err := shapes.WriteDir(*out, *n, *seed, *size)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d scenes (seeds %d–%d) to %s: %s.png … %s.png, masks and labels.json\n", len(ids), *seed, *seed+int64(*n)-1, *out, ids[0], ids[len(ids)-1])
	return nil
}

// writeShowcases writes the scenes the page opens on for a multi-label
// model: each shows Grad-CAM moving from one object to the other.
func writeShowcases(path string, n int, seed int64, out string, stdout io.Writer) error {
	l, err := (&modelFlags{model: path}).load()
	if err != nil {
		return err
	}
	seeds, err := bench.Showcases(l.m, bench.Options{N: 5000, Seed: seed, Layer: l.card.DefaultLayer, Mean: l.card.Mean, Std: l.card.Std}, n)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	titles := map[string]map[string]string{}
	for i, sd := range seeds {
		s := shapes.Generate(sd, shapes.DefaultSize)
		var names []string
		for c := range shapes.Classes {
			if s.LabelSet()&(1<<c) != 0 {
				names = append(names, shapes.Classes[c])
			}
		}
		stem := fmt.Sprint("scene-", i)
		titles[stem] = map[string]string{"label": strings.Join(names, " and ")}
		var b bytes.Buffer
		if err := png.Encode(&b, s.Image()); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, stem+".png"), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	data, _ := json.MarshalIndent(titles, "", " ")
	if err := os.WriteFile(filepath.Join(out, "labels.json"), data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "showcase scenes (seeds %v) in %s\n", seeds, out)
	return nil
}

// runBenchLocalization scores every explanation method against the object
// masks of held-out shapes scenes.
func runBenchLocalization(args []string, stdout io.Writer) error {
	var f modelFlags
	fs := newFlags("bench-localization")
	f.register(fs, false)
	n := fs.Int("n", 1000, "number of scenes")
	seed := fs.Int64("seed", bundled.ShapesBenchSeed, "seed of the first scene (held out: training used seeds below 40000)")
	methods := fs.String("methods", "", "comma-separated methods (default: all: "+strings.Join(cam.Methods(), ", ")+")")
	layer := fs.String("layer", "", "layer for the layer methods (default: the card's default_layer)")
	steps := fs.Int("steps", 20, "Integrated Gradients steps")
	samples := fs.Int("samples", 10, "SmoothGrad samples")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	byClass := fs.Bool("by-class", false, "also print the pointing game per class of the labelled object")
	multilabel := fs.Bool("multilabel", false, "score every class present in scenes with two or more classes (pointing, energy and discrimination per (scene, class) pair), for a multi-label model")
	if err := parse(fs, args); err != nil {
		return err
	}
	l, err := f.load()
	if err != nil {
		return err
	}
	opt := bench.Options{N: *n, Seed: *seed, Layer: *layer, Mean: l.card.Mean, Std: l.card.Std, Steps: *steps, Samples: *samples}
	if opt.Layer == "" {
		opt.Layer = l.card.DefaultLayer
	}
	if *methods != "" {
		opt.Methods = strings.Split(*methods, ",")
		for _, m := range opt.Methods {
			if !slices.Contains(cam.Methods(), m) {
				return fmt.Errorf("%w: unknown method %q; the methods are %s", errUsage, m, strings.Join(cam.Methods(), ", "))
			}
		}
	}
	last := time.Now()
	opt.Progress = func(method string, done, total int) {
		if time.Since(last) > 2*time.Second || done == total {
			fmt.Fprintf(os.Stderr, "\r%-22s %5d/%d   ", method, done, total)
			last = time.Now()
		}
	}
	opt.Done = func(r bench.Row) {
		fmt.Fprintf(os.Stderr, "\r%-22s pointing %.1f%% (tolerant %.1f%%), energy %.1f%%, discrimination %.1f%%, %.0f s\n", r.Method, 100*r.Pointing, 100*r.PointingTol, 100*r.Energy, 100*r.Discrimination, r.Seconds)
	}
	if *multilabel {
		return benchMulti(l, f.model, opt, *asJSON, stdout)
	}
	rep, err := bench.Localization(l.m, opt)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	shape, _ := l.m.ConcreteInputShape(1)
	rows := append(rep.Rows, bench.Baselines(rep, *n, *seed, shape[2])...)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		return enc.Encode(struct {
			Model     string      `json:"model"`
			N         int         `json:"scenes"`
			Seed      int64       `json:"seed"`
			TwoObject int         `json:"two_object_scenes"`
			Accuracy  float64     `json:"accuracy"`
			MaskShare float64     `json:"mask_share"`
			Tolerance int         `json:"tolerance_px"`
			Rows      []bench.Row `json:"rows"`
		}{f.model, rep.N, rep.Seed, rep.TwoObject, rep.Accuracy, rep.MaskShare, rep.Tolerance, rows})
	}
	fmt.Fprintf(stdout, "%s on %d held-out scenes (seeds %d–%d, %d with two objects): accuracy %.1f%%; the labelled object covers %.1f%% of the image on average.\n\n",
		f.model, rep.N, rep.Seed, rep.Seed+int64(rep.N)-1, rep.TwoObject, 100*rep.Accuracy, 100*rep.MaskShare)
	fmt.Fprintf(stdout, "| method | pointing game | pointing game (±%d px) | energy in mask | class discrimination | time |\n", rep.Tolerance)
	fmt.Fprintln(stdout, "|---|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		if r.Err != "" {
			fmt.Fprintf(stdout, "| %s | — | — | — | — | (%s) |\n", r.Method, r.Err)
			continue
		}
		fmt.Fprintf(stdout, "| %s | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.0f s |\n", r.Method, 100*r.Pointing, 100*r.PointingTol, 100*r.Energy, 100*r.Discrimination, r.Seconds)
	}
	if *byClass {
		printByClass(stdout, rows)
	}
	return nil
}

// benchMulti runs and prints the multi-label benchmark.
func benchMulti(l *loaded, name string, opt bench.Options, asJSON bool, stdout io.Writer) error {
	opt.Done = func(r bench.Row) {
		fmt.Fprintf(os.Stderr, "\r%-22s pointing %.1f%% (strict %.1f%%), discrimination %.1f%%, energy %.1f%%, %.0f s\n", r.Method, 100*r.PointingTol, 100*r.Pointing, 100*r.Discrimination, 100*r.Energy, r.Seconds)
	}
	rep, err := bench.LocalizationMulti(l.m, opt)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		return enc.Encode(struct {
			Model string `json:"model"`
			Layer string `json:"layer"`
			*bench.MultiReport
		}{name, opt.Layer, rep})
	}
	fmt.Fprintf(stdout, "%s at %s on the %d held-out scenes with two or more classes among seeds %d–%d: %d (scene, present class) pairs; exact-set accuracy %.1f%%, mAP %.4f; the asked class's objects cover %.1f%% of the image on average.\n\n",
		name, opt.Layer, rep.Scenes, rep.Seed, rep.Seed+int64(rep.N)-1, rep.Pairs, 100*rep.SetAccuracy, rep.MeanAP, 100*rep.MaskShare)
	fmt.Fprintf(stdout, "| method | pointing game (±%d px) | pointing game (strict) | class discrimination | energy in the class's objects | time |\n", rep.Tolerance)
	fmt.Fprintln(stdout, "|---|---:|---:|---:|---:|---:|")
	for _, r := range rep.Rows {
		if r.Err != "" {
			fmt.Fprintf(stdout, "| %s | — | — | — | — | (%s) |\n", r.Method, r.Err)
			continue
		}
		fmt.Fprintf(stdout, "| %s | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.0f s |\n", r.Method, 100*r.PointingTol, 100*r.Pointing, 100*r.Discrimination, 100*r.Energy, r.Seconds)
	}
	for _, metric := range []struct {
		title string
		get   func(bench.ClassScore) float64
	}{
		{fmt.Sprintf("Pointing game (±%d px) by asked class", rep.Tolerance), func(c bench.ClassScore) float64 { return c.PointingTol }},
		{"Class discrimination by asked class", func(c bench.ClassScore) float64 { return c.Discrimination }},
	} {
		fmt.Fprintf(stdout, "\n%s:\n\n| method | %s |\n|---|%s\n", metric.title, strings.Join(shapes.Classes, " | "), strings.Repeat("---:|", len(shapes.Classes)))
		for _, r := range rep.Rows {
			if r.Err != "" {
				continue
			}
			cells := make([]string, len(shapes.Classes))
			for k, c := range shapes.Classes {
				cells[k] = "—"
				if v, ok := r.ByClass[c]; ok {
					cells[k] = fmt.Sprintf("%.1f%%", 100*metric.get(v))
				}
			}
			fmt.Fprintf(stdout, "| %s | %s |\n", r.Method, strings.Join(cells, " | "))
		}
	}
	return nil
}

// printByClass prints the strict pointing game per class of the labelled
// object, one column per class that occurs.
func printByClass(w io.Writer, rows []bench.Row) {
	var classes []string
	for _, c := range shapes.Classes {
		for _, r := range rows {
			if _, ok := r.ByClass[c]; ok {
				classes = append(classes, c)
				break
			}
		}
	}
	fmt.Fprintf(w, "\nPointing game (strict) by class of the labelled object:\n\n| method | %s |\n|---|%s\n", strings.Join(classes, " | "), strings.Repeat("---:|", len(classes)))
	for _, r := range rows {
		if r.Err != "" {
			continue
		}
		cells := make([]string, len(classes))
		for k, c := range classes {
			cells[k] = "—"
			if v, ok := r.ByClass[c]; ok {
				cells[k] = fmt.Sprintf("%.1f%%", 100*v)
			}
		}
		fmt.Fprintf(w, "| %s | %s |\n", r.Method, strings.Join(cells, " | "))
	}
}
