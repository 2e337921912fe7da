package viz_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"

	"github.com/cnnlens/cnnlens/engine/viz"
)

func ExampleColormapByName() {
	cm, err := viz.ColormapByName("jet")
	if err != nil {
		panic(err)
	}
	// cv2.applyColorMap gives BGR (128, 0, 0) for 0 and (0, 0, 128) for
	// 255; Lookup gives RGB.
	fmt.Println(cm.Lookup(0), cm.Lookup(0.5), cm.Lookup(1))
	// Output: {0 0 128 255} {126 255 130 255} {128 0 0 255}
}

func ExampleShowCAMOnImage() {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	for i := range img.Pix {
		img.Pix[i] = 255 // white
	}
	// A 2×1 map, stretched over the 2×2 image.
	mask := []float32{0, 1}
	out, err := viz.ShowCAMOnImage(img, mask, 2, 1, viz.Jet, 0.5)
	if err != nil {
		panic(err)
	}
	fmt.Println(out.RGBAAt(0, 0), out.RGBAAt(1, 0))
	// Output: {169 169 255 255} {255 169 169 255}
}

func ExampleSignedMapImage() {
	// Kernel weights: negative blue, zero near white, positive red.
	w := []float32{-0.5, 0, 0.25, 0.5}
	img := viz.SignedMapImage(w, 4, 1, viz.RdBu, 0)
	for x := 0; x < 4; x++ {
		fmt.Println(img.RGBAAt(x, 0))
	}
	// Output:
	// {5 48 97 255}
	// {246 246 246 255}
	// {229 131 104 255}
	// {103 0 31 255}
}

func ExampleDeprocessImage() {
	// A 2×1 RGB guided-backprop gradient.
	grad := []float32{0.02, -0.01, 0.00, 0.01, 0.03, -0.02}
	img := viz.DeprocessImage(grad, 2, 1)
	fmt.Println(img.RGBAAt(0, 0), img.RGBAAt(1, 0))
	// Output: {149 105 120 255} {134 164 90 255}
}

func ExampleGrid() {
	var tiles []image.Image
	for i := 0; i < 5; i++ {
		feature := make([]float32, 7*7)
		for j := range feature {
			feature[j] = float32((i+j)%7) / 6
		}
		tile := viz.Upscale(viz.MapImage(feature, 7, 7, viz.Viridis), 4)
		tiles = append(tiles, viz.Caption(tile, fmt.Sprintf("ch %d", i)))
	}
	sheet := viz.Grid(tiles, 3, 2, color.White)
	fmt.Println(sheet.Bounds().Size())

	var buf bytes.Buffer
	if err := viz.EncodePNG(&buf, sheet); err != nil {
		panic(err)
	}
	fmt.Println(buf.Len() > 0)
	// Output:
	// (98,92)
	// true
}
