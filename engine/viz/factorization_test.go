package viz

import (
	"image"
	"testing"
)

func TestConceptColor(t *testing.T) {
	// gist_rainbow at 0 is (1, 0, 0.16); at 0.4 pure green, at 0.77 blue.
	if c := ConceptColor(0, 4); c[0] != 1 || c[1] != 0 || c[2] < 0.15 || c[2] > 0.17 {
		t.Errorf("colour 0 of 4: %v", c)
	}
	for _, tc := range []struct {
		i, k int
		ch   int
	}{{2, 5, 1}, {4, 5, 2}} { // 0.4 → green, 0.8 → blue-ish magenta side
		c := ConceptColor(tc.i, tc.k)
		if c[tc.ch] < 0.9 {
			t.Errorf("colour %d of %d: %v", tc.i, tc.k, c)
		}
	}
}

// Each pixel takes the colour of its strongest concept, at that concept's
// brightness, half and half with the image; the legend doubles the width.
func TestShowFactorizationOnImage(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 2))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	maps := []float32{
		1, 1, 0, 0, 0.5, 0.5, 0, 0, // concept 0: left half
		0, 0, 1, 1, 0, 0, 0.2, 0, // concept 1: right half
	}
	out, err := ShowFactorizationOnImage(img, maps, 2, 4, 2, 0.5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Bounds().Dx() != 4 {
		t.Fatalf("width %d without a legend", out.Bounds().Dx())
	}
	c0, c1 := ConceptColor(0, 2), ConceptColor(1, 2)
	check := func(x, y int, c [3]float64, v float64) {
		t.Helper()
		got := out.RGBAAt(x, y)
		peak := max(c[0], c[1], c[2])
		want := []float64{0.5 + c[0]/peak*v*0.5, 0.5 + c[1]/peak*v*0.5, 0.5 + c[2]/peak*v*0.5}
		for ch, g := range []uint8{got.R, got.G, got.B} {
			if d := float64(g) - 255*want[ch]; d > 1.5 || d < -1.5 {
				t.Errorf("pixel (%d,%d): %v, want %v", x, y, got, want)
				return
			}
		}
	}
	check(0, 0, c0, 1)
	check(3, 0, c1, 1)
	check(0, 1, c0, 0.5)
	check(2, 1, c1, 0.2)
	withLegend, err := ShowFactorizationOnImage(img, maps, 2, 4, 2, 0.5, []string{"a", "b"})
	if err != nil || withLegend.Bounds().Dx() != 8 {
		t.Fatalf("legend: %v, %v", err, withLegend.Bounds())
	}
	if _, err := ShowFactorizationOnImage(img, maps[:5], 2, 4, 2, 0.5, nil); err == nil {
		t.Error("short maps: no error")
	}
	if _, err := ShowFactorizationOnImage(img, maps, 2, 4, 2, 0.5, []string{"a"}); err == nil {
		t.Error("one label for two concepts: no error")
	}
}
