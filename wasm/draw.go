//go:build js && wasm

package main

import (
	"image"
	"syscall/js"

	"honnef.co/go/js/dom/v2"
)

// bitmap draws a picture into an OffscreenCanvas through the DOM bindings
// and returns it as an ImageBitmap, which the worker transfers to the page
// (no copy) for drawImage.
func bitmap(img *image.RGBA) js.Value {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	oc := js.Global().Get("OffscreenCanvas").New(w, h)
	ctx := &dom.CanvasRenderingContext2D{Value: oc.Call("getContext", "2d")}
	data := ctx.CreateImageData(w, h)
	// image.RGBA is premultiplied and ImageData is not: the pictures here
	// are opaque, where the two agree.
	js.CopyBytesToJS(data.Data(), img.Pix[:4*w*h])
	ctx.PutImageData(data, 0, 0)
	return oc.Call("transferToImageBitmap")
}
