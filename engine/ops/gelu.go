package ops

// Erf and Gelu (opset 20). torch.onnx exports nn.GELU before opset 20 as
// x·(erf(x/√2) + 1)/2, so Erf carries ConvNeXt's and the vision
// transformers' activations.
//
//	Erf:             y = erf(x),                       y' = 2/√π·exp(−x²)
//	Gelu (none):     y = x·Φ(x), Φ(x) = (1 + erf(x/√2))/2,  y' = Φ(x) + x·φ(x)
//	Gelu (tanh):     y = x/2·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³)

import (
	"fmt"
	"math"
)

func init() {
	Register("Erf", unary("Erf", erfF, erfB))
	Register("Gelu", func(a Attrs, _ int) (Op, error) {
		switch ap := a.String("approximate", "none"); ap {
		case "none":
			return &unaryOp{name: "Gelu", fwd: geluF, bwd: geluB}, nil
		case "tanh":
			return &unaryOp{name: "Gelu", fwd: geluTanhF, bwd: geluTanhB}, nil
		default:
			return nil, fmt.Errorf("Gelu: unknown approximate %q", ap)
		}
	})
}

func erfF(x, y []float32) {
	for i, v := range x {
		y[i] = float32(math.Erf(float64(v)))
	}
}

func erfB(x, _, gy, gx []float32) {
	x = x[:len(gy)]
	for i, g := range gy {
		v := float64(x[i])
		gx[i] = g * float32(2/math.SqrtPi*math.Exp(-v*v))
	}
}

func geluF(x, y []float32) {
	for i, v := range x {
		f := float64(v)
		y[i] = float32(f * 0.5 * (1 + math.Erf(f/math.Sqrt2)))
	}
}

func geluB(x, _, gy, gx []float32) {
	x = x[:len(gy)]
	for i, g := range gy {
		f := float64(x[i])
		cdf := 0.5 * (1 + math.Erf(f/math.Sqrt2))
		pdf := math.Exp(-f*f/2) / math.Sqrt(2*math.Pi)
		gx[i] = g * float32(cdf+f*pdf)
	}
}

const geluK = 0.7978845608028654 // √(2/π)

func geluTanhF(x, y []float32) {
	for i, v := range x {
		f := float64(v)
		y[i] = float32(0.5 * f * (1 + math.Tanh(geluK*(f+0.044715*f*f*f))))
	}
}

func geluTanhB(x, _, gy, gx []float32) {
	x = x[:len(gy)]
	for i, g := range gy {
		f := float64(x[i])
		t := math.Tanh(geluK * (f + 0.044715*f*f*f))
		du := geluK * (1 + 3*0.044715*f*f)
		gx[i] = g * float32(0.5*(1+t)+0.5*f*(1-t*t)*du)
	}
}
