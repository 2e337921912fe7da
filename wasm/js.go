//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"image"
	"math"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall/js"
	"unsafe"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/card"
	"github.com/cnnlens/cnnlens/engine/kernels"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// The worker script (web/worker.js) loads this program and waits for it to
// call globalThis.cnnlensStarted(engine), where engine has two functions:
//
//	handle(msg)   queue a request {id, op, ...}; the reply is posted to the
//	              page as {id, ok, result | error} with typed arrays and
//	              image bitmaps transferred, progress as {id, progress}.
//	cancel(id)    ask a running request to stop (ScoreCAM, AblationCAM, …).
//
// Requests run one at a time on one goroutine. Each is guarded by recover:
// a panic becomes that request's error, and the engine stays up.

type request struct {
	id  int
	op  string
	msg js.Value
}

var (
	queue     = make(chan request, 256)
	cancelled sync.Map // ids of requests asked to stop
)

// phase stamps a step of the engine's start and of its first requests
// with the worker's cnnlensPhase(name), when the worker has one
// (web/worker.js keeps the first stamp of each name; the page logs them
// with its start-up marks).
func phase(name string) {
	if f := js.Global().Get("cnnlensPhase"); f.Type() == js.TypeFunction {
		f.Invoke(name)
	}
}

func main() {
	phase("go:main")
	setMemoryLimit()
	eng := NewEngine()
	eng.ReusePictures = true // bitmap copies every picture at once
	tuneGC(eng)
	api := js.Global().Get("Object").New()
	api.Set("handle", js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := args[0]
		r := request{id: msg.Get("id").Int(), op: msg.Get("op").String(), msg: msg}
		select {
		case queue <- r:
		default:
			reply(r.id, nil, fmt.Errorf("the engine is busy: too many requests queued"), nil)
		}
		return nil
	}))
	api.Set("cancel", js.FuncOf(func(_ js.Value, args []js.Value) any {
		cancelled.Store(args[0].Int(), true)
		return nil
	}))
	api.Set("methods", toJS(cam.Methods()))
	var divisible []string
	for _, m := range cam.Methods() {
		if cam.Divisible(m) {
			divisible = append(divisible, m)
		}
	}
	api.Set("divisible", toJS(divisible))
	// The other requests that take part and pieces.
	api.Set("divisibleOps", toJS([]string{"metrics"}))
	api.Set("colormaps", toJS(viz.ColormapNames()))
	phase("go:methods")
	api.Set("colormapTables", colormapTables())
	phase("go:colormaps")
	js.Global().Call("cnnlensStarted", api)
	warm := false
	for r := range queue {
		serve(eng, r)
		// The first time nothing waits (the page reads the model's answer
		// before it sends an input), the GEMM's kernels are run once, so
		// that V8 has optimised them before the first forward pass.
		if !warm && len(queue) == 0 {
			warm = true
			kernels.WarmUp()
		}
	}
}

// colormapTables gives each colormap's 256 colours as a Uint8Array of
// 768 bytes (RGB), so that the page draws colour bars with the very colours
// the engine paints.
func colormapTables() js.Value {
	out := js.Global().Get("Object").New()
	for _, name := range viz.ColormapNames() {
		cm, err := viz.ColormapByName(name)
		if err != nil {
			continue
		}
		t := cm.Table()
		b := make([]byte, 0, 3*len(t))
		for _, c := range t {
			b = append(b, c.R, c.G, c.B)
		}
		a := js.Global().Get("Uint8Array").New(len(b))
		js.CopyBytesToJS(a, b)
		out.Set(name, a)
	}
	return out
}

// serve runs one request and posts its reply, whatever happens.
func serve(eng *Engine, r request) {
	defer func() {
		if p := recover(); p != nil {
			js.Global().Get("console").Call("error", fmt.Sprintf("cnnlens: panic in %s: %v\n%s", r.op, p, debug.Stack()))
			reply(r.id, nil, fmt.Errorf("internal error in %s: %v", r.op, p), nil)
		}
	}()
	result, transfer, err := dispatch(eng, r)
	reply(r.id, result, err, transfer)
}

func reply(id int, result any, err error, transfer []any) {
	msg := map[string]any{"id": id, "ok": err == nil}
	if err != nil {
		msg["error"] = err.Error()
		msg["code"] = Code(err)
	} else {
		msg["result"] = result
	}
	js.Global().Call("postMessage", msg, transfer)
}

func dispatch(eng *Engine, r request) (any, []any, error) {
	m := r.msg
	switch r.op {
	case "loadModel":
		mc, err := cardOf(m.Get("card"))
		if err != nil {
			return nil, nil, err
		}
		info, err := eng.LoadModel(bytesOf(m.Get("bytes")), mc)
		if err != nil {
			return nil, nil, err
		}
		phase("loadModel:loaded")
		tuneGC(eng)
		out := toJS(info)
		phase("loadModel:converted")
		return out, nil, nil
	case "configure":
		mc, err := cardOf(m.Get("card"))
		if err != nil {
			return nil, nil, err
		}
		if mc == nil {
			mc = &card.Card{}
		}
		info, err := eng.Configure(m.Get("model").Int(), mc)
		if err != nil {
			return nil, nil, err
		}
		return toJS(info), nil, nil
	case "disposeModel":
		eng.DisposeModel(m.Get("model").Int())
		tuneGC(eng)
		return nil, nil, nil
	case "disposeInput":
		eng.DisposeInput(m.Get("input").Int())
		return nil, nil, nil
	case "setInput":
		return setInput(eng, m)
	case "cam":
		return camOp(eng, r)
	case "metrics":
		return metricsOp(eng, r)
	case "dff":
		return dffOp(eng, m)
	case "render":
		return render(eng, m)
	case "renderMap":
		return renderMap(eng, m)
	case "base":
		img, err := eng.Base(m.Get("input").Int())
		if err != nil {
			return nil, nil, err
		}
		bmp := bitmap(toRGBA(img))
		return map[string]any{"image": bmp}, []any{bmp}, nil
	case "filters":
		return filtersOp(eng, m)
	case "featureMaps":
		return featureMapsOp(eng, m)
	case "channel":
		return channelOp(eng, m)
	case "breakdown":
		return breakdownOp(eng, m)
	case "maximize":
		return maximizeOp(eng, r)
	case "rotations":
		return rotationsOp(eng, m)
	case "pooling":
		return poolingOp(eng, m)
	case "panic":
		// Lets the tests check that a panic is reported, not fatal.
		panic("test panic requested by the page")
	}
	return nil, nil, markf(ErrBadRequest, "unknown request %q", r.op)
}

// setInput takes {model, kind: "encoded"|"rgba"|"tensor", data, width,
// height, method}: method, when given, is the method the page will compute
// first, whose precision tier the forward pass takes (Engine.InputImage).
func setInput(eng *Engine, m js.Value) (any, []any, error) {
	id := m.Get("model").Int()
	first := str(m.Get("method"), "")
	var (
		info InputInfo
		err  error
	)
	switch kind := m.Get("kind").String(); kind {
	case "encoded":
		info, err = eng.InputEncoded(id, bytesOf(m.Get("data")), first)
	case "rgba":
		w, h := m.Get("width").Int(), m.Get("height").Int()
		pix := bytesOf(m.Get("data"))
		if w <= 0 || h <= 0 || len(pix) != 4*w*h {
			return nil, nil, markf(ErrBadRequest, "pixels: %d bytes for %d×%d", len(pix), w, h)
		}
		img := &image.NRGBA{Pix: pix, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
		info, err = eng.InputImage(id, img, first)
	case "tensor":
		info, err = eng.InputTensor(id, floatsOf(m.Get("data")), first)
	default:
		err = markf(ErrBadRequest, "unknown input kind %q", kind)
	}
	if err != nil {
		return nil, nil, err
	}
	phase("setInput:forward")
	logits := float32sToJS(info.Logits)
	info.Logits = nil
	out := toJS(info)
	out.Set("logits", logits)
	transfer := []any{logits.Get("buffer")}
	if seg := info.Segmentation; seg != nil {
		argmax := js.Global().Get("Int32Array").New(len(seg.Argmax))
		if len(seg.Argmax) > 0 {
			js.CopyBytesToJS(js.Global().Get("Uint8Array").New(argmax.Get("buffer")), unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(seg.Argmax))), len(seg.Argmax)*4))
		}
		out.Get("segmentation").Set("argmax", argmax)
		transfer = append(transfer, argmax.Get("buffer"))
	}
	return out, transfer, nil
}

// camOp takes {input, method, layer, layout, kind, class, other,
// augSmooth, eigenSmooth, steps, samples, noise, seed, window, stride,
// superpixel, mask, maskWidth, maskHeight, part: [lo, hi] | undefined,
// pieces: Float32Array | undefined, render: {colormap, alpha} |
// undefined}. With part, the reply is {pieces, pieceCount, pieceMs}: the
// data of pieces [lo, hi) of a divisible method (cam.Request.Part) and the
// time they took (without what any part needs first, such as
// Ablation-CAM's im2col forward pass); pieces (every piece's data, in
// order) finishes the map from them.
func camOp(eng *Engine, r request) (any, []any, error) {
	m := r.msg
	req := CAMRequest{
		Input:       m.Get("input").Int(),
		Method:      str(m.Get("method"), "gradcam"),
		Layer:       str(m.Get("layer"), ""),
		Kind:        str(m.Get("kind"), "logit"),
		Class:       num(m.Get("class"), -1),
		Other:       num(m.Get("other"), -1),
		AugSmooth:   m.Get("augSmooth").Truthy(),
		EigenSmooth: m.Get("eigenSmooth").Truthy(),
	}
	if err := camOptions(m, &req); err != nil {
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
	defer cancelled.Delete(r.id)
	if _, stop := cancelled.Load(r.id); stop {
		return nil, nil, ErrCancelled
	}
	req.Progress = func(done, total int) bool {
		js.Global().Call("postMessage", map[string]any{"id": r.id, "progress": map[string]any{"done": done, "total": total}})
		yield() // let a cancel message in
		_, stop := cancelled.Load(r.id)
		return !stop
	}
	res, err := eng.CAM(req)
	if err != nil {
		if errors.Is(err, cam.ErrCancelled) {
			return nil, nil, ErrCancelled
		}
		return nil, nil, err
	}
	phase("cam:computed")
	if req.Part != nil {
		pieces := float32sToJS(res.Pieces)
		return map[string]any{"method": req.Method, "pieces": pieces, "pieceCount": res.PieceCount,
			"classIndex": res.ClassIndex, "ms": res.MS, "pieceMs": res.PieceMS}, []any{pieces.Get("buffer")}, nil
	}
	mapArr := float32sToJS(res.Map)
	out := map[string]any{
		"method": req.Method, "cam": mapArr, "width": res.Width, "height": res.Height, "channels": res.Channels,
		"classIndex": res.ClassIndex, "score": float64(res.Score), "layer": res.Layer, "layout": res.Layout,
		"ms": res.MS, "forwardMs": res.ForwardMS, "backwardMs": res.BackwardMS, "reusedForwardMs": res.ReusedForwardMS,
		"rawWidth": res.RawW, "rawHeight": res.RawH,
	}
	transfer := []any{mapArr.Get("buffer")}
	if res.Attr != nil {
		attr := float32sToJS(res.Attr)
		out["attr"] = attr
		transfer = append(transfer, attr.Get("buffer"))
	}
	if res.Delta != nil {
		out["delta"] = float64(res.Delta[0])
	}
	if res.Raw != nil {
		raw := float32sToJS(res.Raw)
		out["raw"] = raw
		transfer = append(transfer, raw.Get("buffer"))
	}
	if opt := m.Get("render"); opt.Truthy() {
		imgs, tr, err := renderImages(eng, req.Input, opt)
		if err != nil {
			return nil, nil, err
		}
		for k, v := range imgs {
			out[k] = v
		}
		transfer = append(transfer, tr...)
	}
	return out, transfer, nil
}

// render takes {input, colormap, alpha} and redraws the input's last map.
func render(eng *Engine, m js.Value) (any, []any, error) {
	imgs, tr, err := renderImages(eng, m.Get("input").Int(), m)
	if err != nil {
		return nil, nil, err
	}
	return imgs, tr, nil
}

func renderImages(eng *Engine, input int, opt js.Value) (map[string]any, []any, error) {
	alpha := 0.5
	if a := opt.Get("alpha"); a.Type() == js.TypeNumber {
		alpha = a.Float()
	}
	overlay, heat, raw, err := eng.Render(input, str(opt.Get("colormap"), "jet"), alpha)
	if err != nil {
		return nil, nil, err
	}
	phase("render:drawn")
	return bitmaps(map[string]*image.RGBA{"overlay": overlay, "heat": heat, "rawImage": raw})
}

// renderMap takes {input, cam, width, height, channels, raw, rawWidth,
// rawHeight, colormap, alpha}: a map the page kept (the grid of every
// method), drawn again over its input.
func renderMap(eng *Engine, m js.Value) (any, []any, error) {
	base, err := eng.Base(m.Get("input").Int())
	if err != nil {
		return nil, nil, err
	}
	r := &cam.Result{Maps: floatsOf(m.Get("cam")), Width: num(m.Get("width"), 0), Height: num(m.Get("height"), 0), Channels: num(m.Get("channels"), 1)}
	if r.Channels != 3 {
		r.Channels = 1
	}
	if r.Width <= 0 || r.Height <= 0 || len(r.Maps) != r.Width*r.Height*r.Channels {
		return nil, nil, markf(ErrBadRequest, "renderMap: %d values for a %d×%d×%d map", len(r.Maps), r.Width, r.Height, r.Channels)
	}
	if raw := m.Get("raw"); raw.Truthy() {
		l := cam.LayerResult{Raw: floatsOf(raw), W: num(m.Get("rawWidth"), 0), H: num(m.Get("rawHeight"), 0)}
		if l.W > 0 && l.H > 0 && len(l.Raw) == l.W*l.H {
			r.Layers = []cam.LayerResult{l}
		}
	}
	alpha := 0.5
	if a := m.Get("alpha"); a.Type() == js.TypeNumber {
		alpha = a.Float()
	}
	overlay, heat, raw, err := RenderResult(base, r, str(m.Get("colormap"), "jet"), alpha)
	if err != nil {
		return nil, nil, err
	}
	return bitmaps(map[string]*image.RGBA{"overlay": overlay, "heat": heat, "rawImage": raw})
}

func bitmaps(imgs map[string]*image.RGBA) (map[string]any, []any, error) {
	out := map[string]any{}
	var transfer []any
	for name, img := range imgs {
		if img == nil {
			continue
		}
		b := bitmap(img)
		out[name] = b
		transfer = append(transfer, b)
	}
	return out, transfer, nil
}

// yield lets the worker's event loop run (so that a cancel message is
// received) and comes back: globalThis.cnnlensYield calls back through a
// MessageChannel, which is not throttled like setTimeout.
func yield() {
	done := make(chan struct{})
	f := js.FuncOf(func(js.Value, []js.Value) any { close(done); return nil })
	js.Global().Call("cnnlensYield", f)
	<-done
	f.Release()
}

// cardOf reads a model card given as a JavaScript object (the keys of
// engine/card's JSON), naming the field that is not valid.
func cardOf(v js.Value) (*card.Card, error) {
	if v.IsUndefined() || v.IsNull() {
		return nil, nil
	}
	if v.Type() != js.TypeObject {
		return nil, markf(card.ErrBadCard, "model card: want an object, got %s", v.Type())
	}
	// Field by field rather than through JSON: in the page the first use of
	// encoding/json's decoder costs ~25 ms while V8 compiles it, on the way
	// to the first heatmap.
	var c card.Card
	var err error
	if c.Labels, err = cardList(v, "labels", func(e js.Value) (string, bool) {
		if e.Type() != js.TypeString {
			return "", false
		}
		return e.String(), true
	}); err != nil {
		return nil, err
	}
	if c.InputShape, err = cardList(v, "input_shape", func(e js.Value) (int, bool) {
		if e.Type() != js.TypeNumber {
			return 0, false
		}
		f := e.Float()
		return int(f), f == math.Trunc(f) && math.Abs(f) < 1<<31
	}); err != nil {
		return nil, err
	}
	num32 := func(e js.Value) (float32, bool) {
		if e.Type() != js.TypeNumber {
			return 0, false
		}
		return float32(e.Float()), true
	}
	if c.Mean, err = cardList(v, "mean", num32); err != nil {
		return nil, err
	}
	if c.Std, err = cardList(v, "std", num32); err != nil {
		return nil, err
	}
	switch d := v.Get("layer_layout"); d.Type() {
	case js.TypeUndefined, js.TypeNull:
	case js.TypeString:
		c.LayerLayout = d.String()
	default:
		return nil, markf(card.ErrBadCard, "model card: layer_layout must be a string, got %s", d.Type())
	}
	switch d := v.Get("default_layer"); d.Type() {
	case js.TypeUndefined, js.TypeNull:
	case js.TypeString:
		c.DefaultLayer = d.String()
	default:
		return nil, markf(card.ErrBadCard, "model card: default_layer must be a string, got %s", d.Type())
	}
	return &c, nil
}

// cardList reads the list field name of a card (absent or null: nil).
func cardList[T any](obj js.Value, name string, elem func(js.Value) (T, bool)) ([]T, error) {
	v := obj.Get(name)
	if v.IsUndefined() || v.IsNull() {
		return nil, nil
	}
	if !js.Global().Get("Array").Call("isArray", v).Bool() {
		return nil, markf(card.ErrBadCard, "model card: %s must be a list, got %s", name, v.Type())
	}
	out := make([]T, v.Length())
	for i := range out {
		x, ok := elem(v.Index(i))
		if !ok {
			return nil, markf(card.ErrBadCard, "model card: %s[%d] is not a valid value (%s)", name, i, js.Global().Get("String").Invoke(v.Index(i)).String())
		}
		out[i] = x
	}
	return out, nil
}

// bytesOf copies an ArrayBuffer or typed array into Go.
func bytesOf(v js.Value) []byte {
	if v.IsUndefined() || v.IsNull() {
		return nil
	}
	u8 := js.Global().Get("Uint8Array")
	var view js.Value
	if v.InstanceOf(js.Global().Get("ArrayBuffer")) {
		view = u8.New(v)
	} else {
		view = u8.New(v.Get("buffer"), v.Get("byteOffset"), v.Get("byteLength"))
	}
	b := make([]byte, view.Get("length").Int())
	js.CopyBytesToGo(b, view)
	return b
}

// maskOf reads a mask: a Float32Array, or any other typed array or plain
// array of numbers.
func maskOf(v js.Value) []float32 {
	if v.InstanceOf(js.Global().Get("Float32Array")) {
		return floatsOf(v)
	}
	out := make([]float32, v.Length())
	for i := range out {
		out[i] = float32(v.Index(i).Float())
	}
	return out
}

// floatsOf copies a Float32Array (or an ArrayBuffer of float32) into Go.
func floatsOf(v js.Value) []float32 {
	b := bytesOf(v)
	f := make([]float32, len(b)/4)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(f)*4), b)
	return f
}

// float32sToJS copies floats into a new Float32Array (wasm is little-endian,
// like every browser's typed arrays).
func float32sToJS(f []float32) js.Value {
	arr := js.Global().Get("Float32Array").New(len(f))
	if len(f) > 0 {
		view := js.Global().Get("Uint8Array").New(arr.Get("buffer"))
		js.CopyBytesToJS(view, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(f)*4))
	}
	return arr
}

// toJS turns a Go value into the plain JavaScript value JSON would give
// (struct fields under their json names, float32 as its shortest decimal;
// no tag options), built directly: encoding/json's encoder is large,
// and compiling it cost tens of milliseconds on the way to the first
// heatmap.
func toJS(v any) js.Value { return jsOf(reflect.ValueOf(v)) }

func jsOf(v reflect.Value) js.Value {
	switch v.Kind() {
	case reflect.Invalid:
		return js.Null()
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return js.Null()
		}
		return jsOf(v.Elem())
	case reflect.Bool:
		return js.ValueOf(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return js.ValueOf(float64(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return js.ValueOf(float64(v.Uint()))
	case reflect.Float32:
		f, _ := strconv.ParseFloat(strconv.FormatFloat(v.Float(), 'g', -1, 32), 64)
		return js.ValueOf(f)
	case reflect.Float64:
		return js.ValueOf(v.Float())
	case reflect.String:
		return js.ValueOf(v.String())
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return js.Null()
		}
		arr := js.Global().Get("Array").New(v.Len())
		for i := range v.Len() {
			arr.SetIndex(i, jsOf(v.Index(i)))
		}
		return arr
	case reflect.Map:
		if v.IsNil() {
			return js.Null()
		}
		obj := js.Global().Get("Object").New()
		for it := v.MapRange(); it.Next(); {
			k := it.Key()
			var name string
			switch k.Kind() {
			case reflect.String:
				name = k.String()
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				name = strconv.FormatInt(k.Int(), 10)
			default:
				panic("toJS: map key of kind " + k.Kind().String())
			}
			obj.Set(name, jsOf(it.Value()))
		}
		return obj
	case reflect.Struct:
		obj := js.Global().Get("Object").New()
		setFields(obj, v)
		return obj
	}
	panic("toJS: a value of kind " + v.Kind().String())
}

// setFields sets a struct's exported fields on obj as encoding/json names
// them (embedded structs without a name are flattened).
func setFields(obj js.Value, v reflect.Value) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		if f.flatten {
			setFields(obj, fv)
			continue
		}
		obj.Set(f.name, jsOf(fv))
	}
}

// jsField is a struct field that toJS writes: its index, its name on the
// JavaScript object, or flatten for an embedded struct without a name.
type jsField struct {
	index   int
	name    string
	flatten bool
}

// fields keeps each struct type's fields as toJS writes them, so that the
// tags are read once per type, not once per value (a big model's layers
// are hundreds of structs).
var fields sync.Map // reflect.Type → []jsField

func fieldsOf(t reflect.Type) []jsField {
	if fs, ok := fields.Load(t); ok {
		return fs.([]jsField)
	}
	var fs []jsField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			fs = append(fs, jsField{index: i, flatten: true})
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if opts != "" {
			panic("toJS: json option " + opts + " of " + t.Name() + "." + f.Name + " is not supported")
		}
		fs = append(fs, jsField{index: i, name: name})
	}
	fields.Store(t, fs)
	return fs
}

func str(v js.Value, def string) string {
	if v.Type() != js.TypeString || v.String() == "" {
		return def
	}
	return v.String()
}

func num(v js.Value, def int) int {
	if v.Type() != js.TypeNumber {
		return def
	}
	return v.Int()
}

// tuneGC sets the collector's target for the models now loaded (see
// Engine.gcPercent).
func tuneGC(eng *Engine) { debug.SetGCPercent(eng.gcPercent()) }
