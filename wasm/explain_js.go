//go:build js && wasm

package main

import (
	"errors"
	"syscall/js"

	"github.com/cnnlens/cnnlens/engine/cam"
)

// Messages of the newer methods' options, the metrics and DFF
// (explain.go).

// camOptions reads the method options of a cam or metrics message: layout,
// mask (with maskWidth and maskHeight), femK, finerCompare (array of class
// indices), finerAlpha, base, seed.
func camOptions(m js.Value, req *CAMRequest) error {
	req.Layout = str(m.Get("layout"), "")
	if mask := m.Get("mask"); mask.Truthy() {
		req.Mask = maskOf(mask)
		req.MaskW, req.MaskH = num(m.Get("maskWidth"), 0), num(m.Get("maskHeight"), 0)
	}
	req.FEMK = fnum(m.Get("femK"), 0)
	req.Base = str(m.Get("base"), "")
	req.Seed = int64(fnum(m.Get("seed"), 0))
	req.Attr = AttrParams{Steps: num(m.Get("steps"), 0), Samples: num(m.Get("samples"), 0), Noise: fnum(m.Get("noise"), 0),
		Window: num(m.Get("window"), 0), Stride: num(m.Get("stride"), 0), Superpixel: num(m.Get("superpixel"), 0)}
	if a := m.Get("finerAlpha"); a.Type() == js.TypeNumber {
		v := a.Float()
		req.FinerAlpha = &v
	}
	if c := m.Get("finerCompare"); c.Truthy() {
		if c.Type() != js.TypeObject || c.Get("length").Type() != js.TypeNumber {
			return markf(ErrBadRequest, "finerCompare must be an array of class indices")
		}
		for i := 0; i < c.Length(); i++ {
			v := c.Index(i)
			if v.Type() != js.TypeNumber || v.Float() < 0 || v.Float() != float64(v.Int()) {
				return markf(ErrBadRequest, "finerCompare[%d] is not a class index", i)
			}
			req.FinerCompare = append(req.FinerCompare, v.Int())
		}
	}
	return nil
}

// metricsOp takes the cam message's fields plus roadNoise (default 0.01)
// and roadPercentiles (array; default 10…90) and replies with the scores.
// part: [lo, hi] computes only those of ROAD's batches (reply {pieces,
// pieceCount}), pieces: Float32Array finishes from every batch's scores
// (MetricsRequest).
func metricsOp(eng *Engine, r request) (any, []any, error) {
	m := r.msg
	req := MetricsRequest{CAMRequest: CAMRequest{
		Input: m.Get("input").Int(), Method: str(m.Get("method"), "gradcam"), Layer: str(m.Get("layer"), ""),
		Kind: str(m.Get("kind"), "logit"), Class: num(m.Get("class"), -1), Other: num(m.Get("other"), -1),
		AugSmooth: m.Get("augSmooth").Truthy(), EigenSmooth: m.Get("eigenSmooth").Truthy(),
	}, ROADNoise: fnum(m.Get("roadNoise"), 0.01)}
	if err := camOptions(m, &req.CAMRequest); err != nil {
		return nil, nil, err
	}
	if p := m.Get("part"); p.Truthy() {
		if !js.Global().Get("Array").Call("isArray", p).Bool() || p.Length() != 2 {
			return nil, nil, markf(ErrBadRequest, "part must be [lo, hi]")
		}
		req.Part = &cam.Part{Lo: num(p.Index(0), -1), Hi: num(p.Index(1), -1)}
	}
	if p := m.Get("pieces"); p.Truthy() {
		req.Pieces = floatsOf(p)
	}
	if p := m.Get("roadPercentiles"); p.Truthy() {
		for i := 0; i < p.Length(); i++ {
			v := p.Index(i)
			if v.Type() != js.TypeNumber || !(v.Float() >= 0 && v.Float() <= 100) {
				return nil, nil, markf(ErrBadRequest, "roadPercentiles[%d] is not a percentile between 0 and 100", i)
			}
			req.ROADPercentiles = append(req.ROADPercentiles, v.Float())
		}
	}
	defer cancelled.Delete(r.id)
	req.Progress = func(done, total int) bool {
		js.Global().Call("postMessage", map[string]any{"id": r.id, "progress": map[string]any{"done": done, "total": total}})
		yield()
		_, stop := cancelled.Load(r.id)
		return !stop
	}
	res, err := eng.Metrics(req)
	if err != nil {
		if errors.Is(err, cam.ErrCancelled) {
			return nil, nil, ErrCancelled
		}
		return nil, nil, err
	}
	if req.Part != nil {
		pieces := float32sToJS(res.Pieces)
		return map[string]any{"method": res.Method, "pieces": pieces, "pieceCount": res.PieceCount,
			"classIndex": res.ClassIndex, "ms": res.MS}, []any{pieces.Get("buffer")}, nil
	}
	return toJS(res), nil, nil
}

// dffOp takes {input, layer, n, top} and replies with {layer, relError,
// width, height, ms, concepts: [{index, color, label, topClasses, map}],
// overlay: ImageBitmap}.
func dffOp(eng *Engine, m js.Value) (any, []any, error) {
	res, err := eng.DFF(DFFRequest{Input: m.Get("input").Int(), Layer: str(m.Get("layer"), ""),
		N: num(m.Get("n"), 0), Top: num(m.Get("top"), 0)})
	if err != nil {
		return nil, nil, err
	}
	out := toJS(res)
	var transfer []any
	for j, c := range res.Concepts {
		arr := float32sToJS(c.Map)
		out.Get("concepts").Index(j).Set("map", arr)
		transfer = append(transfer, arr.Get("buffer"))
	}
	bmp := bitmap(res.Overlay)
	out.Set("overlay", bmp)
	transfer = append(transfer, bmp)
	return out, transfer, nil
}
