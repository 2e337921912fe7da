// Command cnnlens runs the cnnlens engine on files: model information,
// predictions and any layer's activations, for scripts and tests.
//
//	cnnlens info -model M.onnx
//	cnnlens predict -model M.onnx (-image F.png | -tensor F.f32|F.npy) [-batch N] [-json] [-out-logits F.f32|F.npy]
//	cnnlens features -model M.onnx (-image F | -tensor F.f32) -layer NAME -out F.f32|F.npy
//	cnnlens cam -model M.onnx (-image F | -tensor F.f32) [-layer NAME[,NAME...]] [-class K] [-contrast J]
//	    -method METHOD [-target logit|softmax|rest] [-aug-smooth] [-eigen-smooth] [-out overlay.png] [-out-cam cam.f32|cam.npy]
//	    [-out-raw raw.f32|raw.npy] [-colormap jet] [-alpha 0.5] [-json] [-out-dir DIR (with -method all)]
//	cnnlens metrics -model M.onnx (-image F | -tensor F.f32) [-layer L] -method METHOD [-class K] [-road-noise 0.01] [-road-percentiles 10,…,90] [-json]
//	cnnlens dff -model M.onnx (-image F | -tensor F.f32) [-layer L] -n K [-top 3] [-json] [-out overlay.png]
//	cnnlens filters -model M.onnx -layer L -out grid.png [-mode auto|rgb|channels|magnitude] [-per-filter]
//	cnnlens featuremaps -model M.onnx (-image F | -tensor F.f32) -layer L [-grad -class K] [-sort weight] -out grid.png [-breakdown F.png]
//	cnnlens pooling -model M.onnx (-image F | -tensor F.f32) -layer POOL [-channel C] [-out F.png] [-json]
//	cnnlens maximize -model M.onnx -layer L -channel C [-class K] [-steps 256 -lr 0.05 -jitter 8 -tv … -seed S] -out F.png
//	cnnlens rotations -model M.onnx -layer L [-threshold 0.9] [-json] [-out pairs.png]
//
// Tensor files (-tensor, -out-logits, features -out, -out-cam, -out-raw,
// featuremaps -out-f32) are NumPy .npy arrays with their shape when the
// name ends in .npy, else raw little-endian float32 in C order.
//
// Errors print one line naming the problem and exit with status 1 (2 for a
// usage error).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type command struct {
	summary string
	run     func(args []string, stdout io.Writer) error
}

var commands = map[string]command{
	"info":     {"describe a model: input, layers with shapes, parameters, suggested Grad-CAM layer", runInfo},
	"predict":  {"classify an image or a raw tensor", runPredict},
	"features": {"write one layer's activations as raw float32", runFeatures},
	"cam":      {"explain a prediction: heatmap by Grad-CAM and its family, saliency, …", runCAM},
	"metrics":  {"how faithful an explanation is: confidence change, ROAD scores and ARCC", runMetrics},
	"dff":      {"Deep Feature Factorization: a layer's activations as concepts, with their classes", runDFF},

	// Inside the network (inspect.go).
	"filters":     {"draw a convolution's filters (kernel weights) as a grid", runFilters},
	"featuremaps": {"draw a layer's feature maps (or their gradients) for an image as a grid", runFeatureMaps},
	"pooling":     {"show how a pooling layer routes the gradient below it", runPooling},
	"maximize":    {"find the input pattern that maximises a channel or a class (activation maximisation)", runMaximize},
	"rotations":   {"find filters that are rotated or flipped copies of each other", runRotations},

	// Bundled models (models.go).
	"train":              {"train a bundled model (shapes, fashion) with the engine and write it as ONNX with its card", runTrain},
	"shapes":             {"write synthetic shapes scenes with object masks and labels.json", runShapes},
	"bench-localization": {"score every explanation method against the object masks of shapes scenes", runBenchLocalization},
}

// errUsage marks errors that come from the command line itself.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: cnnlens COMMAND [flags]   (cnnlens COMMAND -h for its flags)")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cnnlens: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(args[1:], stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		fmt.Fprintf(stderr, "cnnlens %s: %s\n", args[0], msg)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("cnnlens "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

// parse parses flags, turning a bad flag into a usage error.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}
