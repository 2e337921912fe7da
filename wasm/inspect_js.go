//go:build js && wasm

package main

// Messages of the "Inside the network" views (inspect.go): each op reads
// its fields, calls the engine and replies with numbers as plain values or
// typed arrays and pictures as transferred ImageBitmaps.

import (
	"image"
	"syscall/js"

	"github.com/cnnlens/cnnlens/engine/inspect"
)

// filtersOp takes {model, layer, mode, perFilter, max, maxInputs, tile,
// colormap, labels}.
func filtersOp(eng *Engine, m js.Value) (any, []any, error) {
	res, err := eng.Filters(FiltersRequest{
		Model: m.Get("model").Int(), Layer: str(m.Get("layer"), ""), Mode: str(m.Get("mode"), "auto"),
		PerFilter: m.Get("perFilter").Truthy(), Max: num(m.Get("max"), 0), MaxInputs: num(m.Get("maxInputs"), 0),
		Tile: num(m.Get("tile"), 0), Colormap: str(m.Get("colormap"), ""), Labels: m.Get("labels").IsUndefined() || m.Get("labels").Truthy(),
	})
	if err != nil {
		return nil, nil, err
	}
	img := bitmap(res.Picture)
	out := map[string]any{
		"layer": res.Layer, "node": res.Node, "mode": res.Mode, "filters": res.Filters, "shown": res.Shown,
		"inputs": res.Inputs, "kh": res.KH, "kw": res.KW, "group": res.Group, "perFilter": res.PerFilter,
		"tiles": res.Tiles, "cols": res.Cols, "cellWidth": res.CellW, "cellHeight": res.CellH, "pad": res.Pad,
		"scale": float64(res.Scale), "stats": toJS(res.Stats), "image": img,
	}
	return out, []any{img}, nil
}

// target reads {kind, class, other} the way camOp does.
func target(m js.Value) (kind string, class, other int) {
	return str(m.Get("kind"), "logit"), num(m.Get("class"), -1), num(m.Get("other"), -1)
}

// featureMapsOp takes {input, layer, grad, weights, kind, class, other,
// order, max, tile, shared}.
func featureMapsOp(eng *Engine, m js.Value) (any, []any, error) {
	kind, class, other := target(m)
	res, err := eng.FeatureMaps(MapsRequest{
		Input: m.Get("input").Int(), Layer: str(m.Get("layer"), ""), Grad: m.Get("grad").Truthy(),
		Weights: m.Get("weights").Truthy(), Kind: kind, Class: class, Other: other,
		Order: str(m.Get("order"), "index"), Max: num(m.Get("max"), 0), Tile: num(m.Get("tile"), 0),
		Shared: m.Get("shared").Truthy(),
	})
	if err != nil {
		return nil, nil, err
	}
	tiles, transfer := bitmapList(res.Tiles)
	out := map[string]any{
		"layer": res.Layer, "grad": res.Grad, "class": res.Class, "channels": res.C, "height": res.H, "width": res.W,
		"stats": toJS(res.Stats), "order": toJS(res.Order), "tiles": tiles, "ms": res.MS,
	}
	return out, transfer, nil
}

// channelOp takes {input, layer, channel, grad, weights, kind, class,
// other, colormap, alpha}.
func channelOp(eng *Engine, m js.Value) (any, []any, error) {
	kind, class, other := target(m)
	alpha := 0.5
	if a := m.Get("alpha"); a.Type() == js.TypeNumber {
		alpha = a.Float()
	}
	res, err := eng.Channel(ChannelRequest{
		Input: m.Get("input").Int(), Layer: str(m.Get("layer"), ""), Channel: num(m.Get("channel"), 0),
		Grad: m.Get("grad").Truthy(), Weights: m.Get("weights").Truthy(), Kind: kind, Class: class, Other: other,
		Colormap: str(m.Get("colormap"), "jet"), Alpha: alpha,
	})
	if err != nil {
		return nil, nil, err
	}
	values := float32sToJS(res.Values)
	overlay, cells := bitmap(res.Overlay), bitmap(res.Cells)
	out := map[string]any{
		"layer": res.Layer, "channel": res.Channel, "grad": res.Grad, "class": res.Class, "stat": toJS(res.Stat),
		"height": res.H, "width": res.W, "values": values, "cellSize": res.CellSize, "overlay": overlay, "cells": cells,
	}
	return out, []any{values.Get("buffer"), overlay, cells}, nil
}

// breakdownOp takes {input, layer, kind, class, other, top, tile,
// colormap, alpha}.
func breakdownOp(eng *Engine, m js.Value) (any, []any, error) {
	kind, class, other := target(m)
	alpha := 0.5
	if a := m.Get("alpha"); a.Type() == js.TypeNumber {
		alpha = a.Float()
	}
	res, err := eng.Breakdown(BreakdownRequest{
		Input: m.Get("input").Int(), Layer: str(m.Get("layer"), ""), Kind: kind, Class: class, Other: other,
		Top: num(m.Get("top"), 0), Tile: num(m.Get("tile"), 0), Colormap: str(m.Get("colormap"), "jet"), Alpha: alpha,
	})
	if err != nil {
		return nil, nil, err
	}
	maps, t1 := bitmapList(res.Maps)
	grads, t3 := bitmapList(res.Grads)
	scaled, t2 := bitmapList(res.Scaled)
	sum, relu, overlay := bitmap(res.Sum), bitmap(res.ReLU), bitmap(res.Overlay)
	out := map[string]any{
		"layer": res.Layer, "class": res.Class, "score": float64(res.Score), "channels": res.C, "height": res.H, "width": res.W,
		"weights": toJS(res.Weights), "order": toJS(res.Order), "top": toJS(res.Top), "topShare": float64(res.TopShare),
		"scale": float64(res.Scale), "sumMin": float64(res.SumMin), "sumMax": float64(res.SumMax), "heatMax": float64(res.HeatMax),
		"mapLo": toJS(res.MapLo), "mapHi": toJS(res.MapHi), "gradScale": toJS(res.GradScale), "scaledScale": toJS(res.ScaledScale),
		"gradMin": toJS(res.GradMin), "gradMax": toJS(res.GradMax),
		"maps": maps, "grads": grads, "scaled": scaled, "sum": sum, "relu": relu, "overlay": overlay, "ms": res.MS,
	}
	transfer := append(append(append(t1, t2...), t3...), sum, relu, overlay)
	return out, transfer, nil
}

// maximizeOp takes {model, layer, channel, class (≥ 0: maximise that
// logit), steps, lr, jitter, rotate, scale, tv, blur, blurEvery, l2, decorrelate,
// fourier, seed, every}. An option left out takes the engine's default; 0
// for jitter, rotate, scale or tv turns that regulariser off. It posts
// {id, progress: {done, total, objective, image?}} after every step (the
// picture every `every` steps) and stops when cancelled, replying with the
// picture so far and cancelled: true.
func maximizeOp(eng *Engine, r request) (any, []any, error) {
	m := r.msg
	opt := inspect.MaximizeOptions{
		Layer: str(m.Get("layer"), ""), Channel: num(m.Get("channel"), 0),
		Steps: num(m.Get("steps"), 0), LR: fnum(m.Get("lr"), 0),
		Jitter: int(offable(m.Get("jitter"))), Rotate: offable(m.Get("rotate")), Scale: offable(m.Get("scale")),
		TV: offable(m.Get("tv")), Blur: fnum(m.Get("blur"), 0), BlurEvery: num(m.Get("blurEvery"), 0), L2: fnum(m.Get("l2"), 0),
		Decorrelate: m.Get("decorrelate").Truthy(), Fourier: m.Get("fourier").Truthy(),
		Seed: int64(fnum(m.Get("seed"), 0)),
	}
	if c := num(m.Get("class"), -1); c >= 0 {
		opt.Class = new(c)
	}
	if opt.Steps < 0 || opt.Steps > 100000 {
		return nil, nil, markf(ErrBadRequest, "steps must be between 1 and 100000, got %d", opt.Steps)
	}
	defer cancelled.Delete(r.id)
	if _, stop := cancelled.Load(r.id); stop {
		return nil, nil, ErrCancelled
	}
	res, err := eng.Maximize(MaximizeRequest{
		Model: m.Get("model").Int(), Options: opt, Every: num(m.Get("every"), 0),
		Progress: func(s MaxStep) bool {
			p := map[string]any{"done": s.Step, "total": s.Total, "objective": float64(s.Objective)}
			var transfer []any
			if s.Image != nil {
				b := bitmap(s.Image)
				p["image"] = b
				transfer = append(transfer, b)
			}
			js.Global().Call("postMessage", map[string]any{"id": r.id, "progress": p}, transfer)
			yield() // let a cancel message in
			_, stop := cancelled.Load(r.id)
			return !stop
		},
	})
	if err != nil {
		return nil, nil, err
	}
	img := bitmap(res.Image)
	obj := float32sToJS(res.Objective)
	out := map[string]any{
		"layer": res.Layer, "channel": res.Channel, "class": res.Class, "image": img,
		"channels": res.C, "height": res.H, "width": res.W, "objective": obj,
		"start": float64(res.Start), "final": float64(res.Final), "steps": res.Steps,
		"cancelled": res.Cancelled, "ms": res.MS,
	}
	return out, []any{img, obj.Get("buffer")}, nil
}

// rotationsOp takes {model, layer, threshold, max, perFilter, tile, chance}.
func rotationsOp(eng *Engine, m js.Value) (any, []any, error) {
	res, err := eng.Rotations(RotationsRequest{
		Model: m.Get("model").Int(), Layer: str(m.Get("layer"), ""), Threshold: fnum(m.Get("threshold"), 0),
		Max: num(m.Get("max"), 0), PerFilter: m.Get("perFilter").Truthy(), Tile: num(m.Get("tile"), 0),
		Chance: num(m.Get("chance"), 0),
	})
	if err != nil {
		return nil, nil, err
	}
	tiles := js.Global().Get("Array").New(len(res.Tiles))
	var transfer []any
	for i, t := range res.Tiles {
		three, tr := bitmapList(t[:])
		tiles.SetIndex(i, three)
		transfer = append(transfer, tr...)
	}
	out := map[string]any{
		"layer": res.Layer, "filters": res.Filters, "kh": res.KH, "kw": res.KW, "threshold": res.Threshold,
		"pairs": toJS(res.Pairs), "tiles": tiles, "scales": toJS(res.Scales), "mode": res.Mode, "chance": res.Chance, "ms": res.MS,
	}
	return out, transfer, nil
}

// poolingOp takes {input, layer, channel (< 0 or absent: the channel with
// the most gradient), kind, class, other, tile}.
func poolingOp(eng *Engine, m js.Value) (any, []any, error) {
	kind, class, other := target(m)
	res, err := eng.Pooling(PoolingRequest{
		Input: m.Get("input").Int(), Layer: str(m.Get("layer"), ""), Channel: num(m.Get("channel"), -1),
		Kind: kind, Class: class, Other: other, Tile: num(m.Get("tile"), 0),
	})
	if err != nil {
		return nil, nil, err
	}
	values := []js.Value{float32sToJS(res.Input), float32sToJS(res.GradAbove), float32sToJS(res.GradBelow)}
	tiles, transfer := bitmapList([]*image.RGBA{res.InputTile, res.AboveTile, res.BelowTile})
	for _, v := range values {
		transfer = append(transfer, v.Get("buffer"))
	}
	out := map[string]any{
		"node": res.Node, "op": res.Op, "above": res.Above, "below": res.Below, "class": res.Class,
		"channels": res.C, "height": res.H, "width": res.W, "outHeight": res.OH, "outWidth": res.OW,
		"channel": res.Channel, "best": res.Best, "fan": res.Fan,
		"nonzeroAbove": res.NonzeroAbove, "nonzeroBelow": res.NonzeroBelow,
		"channelAbove": res.ChannelAbove, "channelBelow": res.ChannelBelow,
		"sumAbove": res.SumAbove, "sumBelow": res.SumBelow,
		"input": values[0], "gradAbove": values[1], "gradBelow": values[2], "tiles": tiles,
		"inLo": float64(res.InLo), "inHi": float64(res.InHi), "scale": float64(res.Scale), "zoom": res.Zoom,
		"kernel": toJS(res.Kernel), "strides": toJS(res.Strides),
	}
	return out, transfer, nil
}

// bitmapList turns pictures into a JS array of ImageBitmaps and their
// transfer list.
func bitmapList(imgs []*image.RGBA) (js.Value, []any) {
	arr := js.Global().Get("Array").New(len(imgs))
	transfer := make([]any, 0, len(imgs))
	for i, img := range imgs {
		b := bitmap(img)
		arr.SetIndex(i, b)
		transfer = append(transfer, b)
	}
	return arr, transfer
}

func fnum(v js.Value, def float64) float64 {
	if v.Type() != js.TypeNumber {
		return def
	}
	return v.Float()
}

// offable reads a regulariser strength: absent is 0 (inspect's default),
// 0 turns it off (-1).
func offable(v js.Value) float64 {
	if v.Type() != js.TypeNumber {
		return 0
	}
	if v.Float() == 0 {
		return -1
	}
	return v.Float()
}
