package viz

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnlens/cnnlens/engine/imgproc"
)

var oracleDir = filepath.Join("..", "..", "..", "shared", "oracle")

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{r, g, b, 255} }

// tableHash is the SHA-256 of a table's 256 RGB triples, the form in which
// the reference tables were hashed (cv2.applyColorMap on 0..255, converted
// to RGB; matplotlib cmap(range(256), bytes=True)).
func tableHash(cm Colormap) string {
	t := cm.Table()
	b := make([]byte, 0, 3*256)
	for _, c := range t {
		b = append(b, c.R, c.G, c.B)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The hashes and spot values come from OpenCV 4.6 and matplotlib 3.6
// directly, not from this package.
func TestTablesMatchReference(t *testing.T) {
	for _, c := range []struct {
		cm   Colormap
		hash string
		spot map[int]color.RGBA
	}{
		{Jet, "661fa696672fecb0ffa3e76bff80e0119d8308227c361c0043f705d8c867faad", map[int]color.RGBA{
			0: rgb(0, 0, 128), 1: rgb(0, 0, 132), 32: rgb(0, 0, 255), 63: rgb(0, 124, 255), 64: rgb(0, 128, 255),
			96: rgb(2, 255, 254), 127: rgb(126, 255, 130), 128: rgb(130, 255, 126), 160: rgb(255, 252, 0),
			192: rgb(255, 124, 0), 224: rgb(252, 0, 0), 254: rgb(132, 0, 0), 255: rgb(128, 0, 0)}},
		{Turbo, "c4ae9ddb8a7f13561562fe15fd276fb55ab04e194786c39edfb2ef2cc0929b2b", map[int]color.RGBA{
			0: rgb(48, 18, 59), 128: rgb(164, 252, 60), 255: rgb(122, 4, 3)}},
		{Viridis, "18545f7c72a02f02a54f2e3f6ff9dcf357e0190ab9117a1f8fae44c6eaf179e0", map[int]color.RGBA{
			0: rgb(68, 1, 84), 128: rgb(33, 145, 140), 255: rgb(253, 231, 37)}},
		{Inferno, "e24e8bd38b972989f64c42856b2b274df5ada3a62bc01bf8e83500a2ea938ad4", map[int]color.RGBA{
			0: rgb(0, 0, 4), 128: rgb(188, 55, 84), 255: rgb(252, 255, 164)}},
		{RdBu, "dc2f97fae8e1ee24890571a21a1a0e91ec14553c97c57edb0ee33c6413803625", map[int]color.RGBA{
			0: rgb(5, 48, 97), 127: rgb(246, 246, 246), 128: rgb(247, 246, 246), 255: rgb(103, 0, 31)}},
		{Seismic, "d48a8230d24b171dd1e66453524324148bc307e107ac3c84ed5e7d785cce7bfa", map[int]color.RGBA{
			0: rgb(0, 0, 76), 64: rgb(1, 1, 255), 127: rgb(253, 253, 255), 128: rgb(255, 253, 253), 255: rgb(127, 0, 0)}},
		{Gray, "", map[int]color.RGBA{0: rgb(0, 0, 0), 100: rgb(100, 100, 100), 255: rgb(255, 255, 255)}},
	} {
		t.Run(c.cm.Name(), func(t *testing.T) {
			tab := c.cm.Table()
			for i, want := range c.spot {
				if tab[i] != want {
					t.Errorf("entry %d = %v, want %v", i, tab[i], want)
				}
			}
			if c.hash != "" {
				if got := tableHash(c.cm); got != c.hash {
					t.Errorf("table hash %s, want %s", got, c.hash)
				}
			}
		})
	}
}

// Jet's channels each rise and then fall (blue falls first, red rises
// last), in steps of at most 5, and every entry is opaque.
func TestJetShape(t *testing.T) {
	tab := Jet.Table()
	for ch, name := range []string{"R", "G", "B"} {
		val := func(i int) int {
			c := tab[i]
			return int([3]uint8{c.R, c.G, c.B}[ch])
		}
		falling := false
		for i := 1; i < 256; i++ {
			d := val(i) - val(i-1)
			if d > 5 || d < -5 {
				t.Errorf("%s jumps by %d at %d", name, d, i)
			}
			if d < 0 {
				falling = true
			}
			if d > 0 && falling {
				t.Errorf("%s rises again at %d", name, i)
			}
		}
	}
	for i, c := range tab {
		if c.A != 255 {
			t.Fatalf("entry %d is not opaque", i)
		}
	}
	if tab[0].B <= tab[0].R || tab[255].R <= tab[255].B {
		t.Errorf("jet should run from blue to red: %v … %v", tab[0], tab[255])
	}
}

func TestLookupQuantises(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		v    float32
		want int
	}{
		{0, 0}, {-3, 0}, {1, 255}, {7, 255}, {0.5, 127}, // 127.5 truncates
		{1.0 / 255, 1}, {0.999, 254}, {0.126, 32}, {nan, -1},
		{float32(math.Inf(1)), 255}, {float32(math.Inf(-1)), 0},
	} {
		if got := LUTIndex(c.v); got != c.want {
			t.Errorf("LUTIndex(%v) = %d, want %d", c.v, got, c.want)
		}
	}
	if got := Jet.Lookup(nan); got != rgb(0, 0, 0) {
		t.Errorf("Lookup(NaN) = %v, want black", got)
	}
	if got := Jet.Lookup(0.5); got != rgb(126, 255, 130) {
		t.Errorf("Lookup(0.5) = %v", got)
	}
	var zero Colormap
	if got := zero.Lookup(0.7); got != rgb(0, 0, 0) {
		t.Errorf("zero Colormap Lookup = %v, want black", got)
	}
}

func TestColormapByName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"jet", "jet"}, {"JET", "jet"}, {" turbo ", "turbo"}, {"viridis", "viridis"},
		{"inferno", "inferno"}, {"gray", "gray"}, {"grey", "gray"}, {"rdbu", "rdbu"},
		{"RdBu_r", "rdbu"}, {"seismic", "seismic"},
	} {
		cm, err := ColormapByName(c.in)
		if err != nil || cm.Name() != c.want {
			t.Errorf("ColormapByName(%q) = %q, %v; want %q", c.in, cm.Name(), err, c.want)
		}
	}
	_, err := ColormapByName("parula")
	if err == nil || !strings.HasPrefix(err.Error(), "viz: ") || !strings.Contains(err.Error(), "parula") {
		t.Errorf("unknown name: err = %v", err)
	}
	if got := strings.Join(ColormapNames(), ","); got != "gray,inferno,jet,rdbu,seismic,turbo,viridis" {
		t.Errorf("ColormapNames() = %s", got)
	}
}

// twoByTwo is the image of the hand computation below.
func twoByTwo() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.SetRGBA(0, 0, rgb(255, 255, 255))
	img.SetRGBA(1, 0, rgb(0, 0, 0))
	img.SetRGBA(0, 1, rgb(100, 50, 200))
	img.SetRGBA(1, 1, rgb(10, 20, 30))
	return img
}

// With image_weight 0.5, cam = (heat + img)/510 per channel. The mask
// picks jet entries 0 (0,0,128), 255 (128,0,0), 127 (126,255,130) and 32
// (0,0,255); the sums are (255,255,383), (128,0,0), (226,305,330) and
// (10,20,285); the largest is 383, so out = ⌊255·sum/383⌋.
func TestShowCAMOnImageByHand(t *testing.T) {
	out, err := ShowCAMOnImage(twoByTwo(), []float32{0, 1, 0.5, 0.126}, 2, 2, Jet, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{
		169, 169, 255, 255, 85, 0, 0, 255,
		150, 203, 219, 255, 6, 13, 189, 255,
	}
	if !bytes.Equal(out.Pix, want) {
		t.Errorf("got %v\nwant %v", out.Pix, want)
	}
	if out.Bounds() != image.Rect(0, 0, 2, 2) {
		t.Errorf("bounds %v", out.Bounds())
	}
}

func TestShowCAMOnImageWeights(t *testing.T) {
	img := twoByTwo()
	// Weight 1: the image alone, rescaled so its brightest value is 255.
	out, err := ShowCAMOnImage(img, []float32{0.3, 0.3, 0.3, 0.3}, 2, 2, Jet, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Pix, img.Pix) {
		t.Errorf("weight 1: got %v, want the image %v", out.Pix, img.Pix)
	}
	// Weight 0: the heatmap alone; a mask of ones is jet's dark red, which
	// normalises to pure red.
	out, err = ShowCAMOnImage(img, []float32{1, 1, 1, 1}, 2, 2, Jet, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if got := out.RGBAAt(i%2, i/2); got != rgb(255, 0, 0) {
			t.Errorf("weight 0 pixel %d = %v", i, got)
		}
	}
	// A 1×1 mask is resized to the image: the same as a constant 2×2 mask.
	a, _ := ShowCAMOnImage(img, []float32{0.7}, 1, 1, Turbo, 0.4)
	b, _ := ShowCAMOnImage(img, []float32{0.7, 0.7, 0.7, 0.7}, 2, 2, Turbo, 0.4)
	if !bytes.Equal(a.Pix, b.Pix) {
		t.Errorf("resized 1×1 mask differs from a constant mask")
	}
	// An all-black result (black image, gray map of zeros) stays black.
	black := image.NewRGBA(image.Rect(0, 0, 2, 2))
	out, err = ShowCAMOnImage(black, make([]float32, 4), 2, 2, Gray, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if got := out.RGBAAt(i%2, i/2); got != rgb(0, 0, 0) {
			t.Errorf("black pixel %d = %v", i, got)
		}
	}
}

func TestShowCAMOnImageErrors(t *testing.T) {
	img := twoByTwo()
	mask := []float32{0, 0, 0, 0}
	for _, c := range []struct {
		name   string
		img    image.Image
		mask   []float32
		mw, mh int
		weight float32
		want   string
	}{
		{"weight below 0", img, mask, 2, 2, -0.1, "image_weight"},
		{"weight above 1", img, mask, 2, 2, 1.5, "image_weight"},
		{"weight NaN", img, mask, 2, 2, float32(math.NaN()), "image_weight"},
		{"short mask", img, mask[:3], 2, 2, 0.5, "3 values"},
		{"long mask", img, mask, 1, 3, 0.5, "needs 3"},
		{"empty mask", img, nil, 0, 0, 0.5, "mask"},
		{"no image", nil, mask, 2, 2, 0.5, "no image"},
		{"empty image", image.NewRGBA(image.Rectangle{}), mask, 2, 2, 0.5, "no pixels"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ShowCAMOnImage(c.img, c.mask, c.mw, c.mh, Jet, c.weight)
			if err == nil || !strings.HasPrefix(err.Error(), "viz: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

type oracleManifest struct {
	InputSize [2]int `json:"input_size"`
}

func readOracle(t *testing.T, model, key string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(oracleDir, model, "raw", key))
	if err != nil {
		t.Fatalf("reference data missing: %v", err)
	}
	return b
}

func f32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func rgbHash(img *image.RGBA) string {
	b := make([]byte, 0, len(img.Pix)/4*3)
	for i := 0; i < len(img.Pix); i += 4 {
		b = append(b, img.Pix[i:i+3]...)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The oracle's Grad-CAM maps and guided-backprop gradients, drawn with
// pytorch-grad-cam's show_cam_on_image(np.float32(image_u8)/255, cam,
// use_rgb=True, colormap, image_weight) and deprocess_image under OpenCV
// 4.6: the SHA-256 of the uint8 H×W×3 results.
func TestOverlaysMatchReference(t *testing.T) {
	want := map[string]map[string]string{
		"tinycnn": {
			"jet 0.5":   "39c2f841dadf3f7992885790b2150311be027edcc58058e5d959705eef238764",
			"jet 0.3":   "425517c24c130b8693078db7313ed7e0b586924a58a6acf1102d54bf21eb31bf",
			"turbo 0.5": "669bc10b5c3973af236fc94403e2ca7328f099a1f60bacd2e70f36a707a97979",
			"turbo 0.3": "51ef8bd695699ba384d8403e3d9af7682f89b607ab75f63266614310f6341e5b",
			"deprocess": "d80a9f95e55a5502bf24137337f343c796fe9b25838ec432618eed3dc947c836",
		},
		"resnet18": {
			"jet 0.5":   "0aa837c155a775822e49991e6ed86e27bd1a4df61d4df598438acf881170046c",
			"jet 0.3":   "690eccfeb663b11c92c292bbef344cc437233fc55003eb83216763dc1d8783b2",
			"turbo 0.5": "c51feba40ca87356b114b4e7b66e6c1e91edc10c4111765d9fded6f08b795bdc",
			"turbo 0.3": "ae6590ead3e99bd651ee5a75d5a4d601bfca78aa394acb8c5816a740b29fd737",
			"deprocess": "8f46368aec14a686e92662ed9ffc4e11520c82d449f923c1c008291c1042ada9",
		},
	}
	for _, model := range []string{"tinycnn", "resnet18"} {
		t.Run(model, func(t *testing.T) {
			mb, err := os.ReadFile(filepath.Join(oracleDir, model, "manifest.json"))
			if err != nil {
				t.Fatalf("reference data missing: %v", err)
			}
			var man oracleManifest
			if err := json.Unmarshal(mb, &man); err != nil {
				t.Fatal(err)
			}
			h, w := man.InputSize[0], man.InputSize[1]
			u8 := readOracle(t, model, "image_u8.u8")
			img := image.NewRGBA(image.Rect(0, 0, w, h))
			for i := 0; i < w*h; i++ {
				copy(img.Pix[4*i:], u8[3*i:3*i+3])
				img.Pix[4*i+3] = 255
			}
			cam := f32s(readOracle(t, model, "last.gradcam.cam.f32"))
			for _, cm := range []Colormap{Jet, Turbo} {
				for _, weight := range []float32{0.5, 0.3} {
					key := fmt.Sprintf("%s %g", cm.Name(), weight)
					out, err := ShowCAMOnImage(img, cam, w, h, cm, weight)
					if err != nil {
						t.Fatal(err)
					}
					if got := rgbHash(out); got != want[model][key] {
						t.Errorf("%s: hash %s, want %s", key, got, want[model][key])
					}
				}
			}
			gb := f32s(readOracle(t, model, "guidedbackprop.f32"))
			if got := rgbHash(DeprocessImage(gb, w, h)); got != want[model]["deprocess"] {
				t.Errorf("deprocess: hash %s, want %s", got, want[model]["deprocess"])
			}
		})
	}
}

func TestMapImage(t *testing.T) {
	nan := float32(math.NaN())
	img := MapImage([]float32{0, 0.5, 1, nan, -1, 2}, 3, 2, Jet)
	want := []color.RGBA{rgb(0, 0, 128), rgb(126, 255, 130), rgb(128, 0, 0), rgb(0, 0, 0), rgb(0, 0, 128), rgb(128, 0, 0)}
	if img.Bounds() != image.Rect(0, 0, 3, 2) {
		t.Fatalf("bounds %v", img.Bounds())
	}
	for i, w := range want {
		if got := img.RGBAAt(i%3, i/3); got != w {
			t.Errorf("pixel %d = %v, want %v", i, got, w)
		}
	}
}

func TestSignedMapImage(t *testing.T) {
	tab := RdBu.Table()
	for _, c := range []struct {
		name  string
		m     []float32
		scale float32
		want  []int // table indices, -1 for black
	}{
		{"auto scale", []float32{-2, 0, 2, 1}, 0, []int{0, 127, 255, 191}},
		{"fixed scale", []float32{-2, 0, 8, 4}, 4, []int{63, 127, 255, 255}},
		{"all zero", []float32{0, 0, 0, 0}, 0, []int{127, 127, 127, 127}},
		{"NaN", []float32{float32(math.NaN()), 1, -1, 0}, 0, []int{-1, 255, 0, 127}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := SignedMapImage(c.m, 2, 2, RdBu, c.scale)
			for i, idx := range c.want {
				want := rgb(0, 0, 0)
				if idx >= 0 {
					want = tab[idx]
				}
				if got := img.RGBAAt(i%2, i/2); got != want {
					t.Errorf("pixel %d = %v, want entry %d %v", i, got, idx, want)
				}
			}
		})
	}
}

func TestDeprocessImage(t *testing.T) {
	// A constant gradient has no spread: (0/(0+1e-5))·0.1 + 0.5 → 127.
	for _, c := range []int{1, 3} {
		hwc := make([]float32, 4*3*c)
		for i := range hwc {
			hwc[i] = 0.25
		}
		img := DeprocessImage(hwc, 4, 3)
		for y := 0; y < 3; y++ {
			for x := 0; x < 4; x++ {
				if got := img.RGBAAt(x, y); got != rgb(127, 127, 127) {
					t.Fatalf("c=%d (%d,%d) = %v, want grey 127", c, x, y, got)
				}
			}
		}
	}
	// ±1: mean 0, std 1, so ±1/(1+1e-5)·0.1 + 0.5 = 0.599999 and 0.400001,
	// times 255 = 152.9997 and 102.0003, truncated to 152 and 102.
	img := DeprocessImage([]float32{1, -1, 1, -1}, 2, 2)
	if got := img.RGBAAt(0, 0); got != rgb(152, 152, 152) {
		t.Errorf("+1 → %v, want 152", got)
	}
	if got := img.RGBAAt(1, 0); got != rgb(102, 102, 102) {
		t.Errorf("−1 → %v, want 102", got)
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("a buffer of 2 channels should panic")
		}
	}()
	DeprocessImage(make([]float32, 8), 2, 2)
}

// npSum32 must add like numpy: pairwise inside blocks of 8192, blocks in
// order. 2^24 + 1 + 1 … shows the grouping: plain left-to-right float32
// addition loses every 1.
func TestNpSum32(t *testing.T) {
	a := make([]float32, 16)
	a[0] = 1 << 24
	for i := 1; i < 16; i++ {
		a[i] = 1
	}
	// Leaves of 8: r[0] = 2^24 + 1 = 2^24 (lost), r[1..7] = 2 each;
	// ((2^24+2)+(4))+((4)+(4)) = 2^24 + 14.
	if got := npSum32(a); got != 1<<24+14 {
		t.Errorf("npSum32 = %v, want %v", got, float32(1<<24+14))
	}
	big := make([]float32, 3*8192+5)
	for i := range big {
		big[i] = 1
	}
	if got := npSum32(big); got != float32(len(big)) {
		t.Errorf("npSum32 of ones = %v", got)
	}
}

func TestToRGBAFromPlanesRoundTrip(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 5, 4))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 37 % 256)
		if i%4 == 3 {
			src.Pix[i] = 255
		}
	}
	x, err := imgproc.ToTensor(src, 3, 4, 5, imgproc.ImageNetMean, imgproc.ImageNetStd)
	if err != nil {
		t.Fatal(err)
	}
	back := ToRGBAFromPlanes(x.F32(), 3, 4, 5, imgproc.ImageNetMean, imgproc.ImageNetStd)
	if !bytes.Equal(back.Pix, src.Pix) {
		t.Errorf("round trip:\n got %v\nwant %v", back.Pix, src.Pix)
	}
	grey := ToRGBAFromPlanes([]float32{-1, 0, 0.5, 2}, 1, 2, 2, nil, nil)
	for i, w := range []uint8{0, 0, 128, 255} {
		if got := grey.RGBAAt(i%2, i/2); got != rgb(w, w, w) {
			t.Errorf("grey pixel %d = %v, want %d", i, got, w)
		}
	}
}

// TestToRGBAFromPlanesClamp compares the pixels with the clamp written
// with Go's min and max (as it was), on values around and outside [0, 1],
// signed zeros, infinities and NaNs, grey and colour.
func TestToRGBAFromPlanesClamp(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 2, 0.5, 1.0 / 510, 1.5 / 255, 254.5 / 255,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32}
	for _, c := range []int{1, 3} {
		h, w := 7, 11
		x := make([]float32, c*h*w)
		for i := range x {
			if i < len(special) {
				x[i] = special[i]
			} else {
				x[i] = float32(rng.NormFloat64()*0.6 + 0.5)
			}
		}
		mean, std := []float32{0.1, -0.2, 0.3}[:c], []float32{1.5, 0.25, 1}[:c]
		for _, ms := range [][2][]float32{{nil, nil}, {mean, std}} {
			got := ToRGBAFromPlanes(x, c, h, w, ms[0], ms[1])
			for ch := 0; ch < c; ch++ {
				mu, sd := float32(0), float32(1)
				if ms[0] != nil {
					mu, sd = ms[0][ch], ms[1][ch]
				}
				for i, v := range x[ch*h*w : (ch+1)*h*w] {
					v = float32(v*sd) + mu
					if v != v {
						v = 0
					}
					v = min(max(v, 0), 1)
					want := uint8(math.RoundToEven(float64(v * 255)))
					for k := 0; k < 3; k++ {
						if k != ch && c == 3 {
							continue
						}
						if g := got.Pix[4*i+k]; g != want {
							t.Fatalf("%d channels, mean %v: value %d (%v) channel %d = %d, want %d", c, ms[0], i, x[ch*h*w+i], k, g, want)
						}
					}
					if got.Pix[4*i+3] != 255 {
						t.Fatalf("alpha %d", got.Pix[4*i+3])
					}
				}
			}
		}
	}
}

func TestGridSizes(t *testing.T) {
	tile := func(w, h int) image.Image { return image.NewRGBA(image.Rect(0, 0, w, h)) }
	five := []image.Image{tile(10, 8), tile(10, 8), tile(12, 6), tile(10, 8), tile(10, 8)}
	for _, c := range []struct {
		name  string
		tiles []image.Image
		cols  int
		pad   int
		w, h  int
	}{
		{"3 columns", five, 3, 2, 3*12 + 4*2, 2*8 + 3*2},
		{"auto columns", five, 0, 2, 3*12 + 4*2, 2*8 + 3*2},
		{"more columns than tiles", five, 9, 1, 5*12 + 6, 8 + 2},
		{"one column, no pad", five, 1, 0, 12, 5 * 8},
		{"negative pad", five, 5, -3, 5 * 12, 8},
		{"nil tile", []image.Image{nil, tile(4, 4)}, 2, 1, 2*4 + 3, 4 + 2},
		{"none", nil, 3, 2, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := Grid(c.tiles, c.cols, c.pad, color.White)
			if g.Bounds() != image.Rect(0, 0, c.w, c.h) {
				t.Errorf("bounds %v, want %d×%d", g.Bounds(), c.w, c.h)
			}
		})
	}
}

func TestGridPlacesTiles(t *testing.T) {
	red := image.NewRGBA(image.Rect(0, 0, 1, 1))
	red.SetRGBA(0, 0, rgb(255, 0, 0))
	tileA := image.NewRGBA(image.Rect(0, 0, 2, 2))
	tileB := image.NewRGBA(image.Rect(5, 5, 7, 7)) // not at the origin
	for _, m := range []*image.RGBA{tileA, tileB} {
		for i := range m.Pix {
			m.Pix[i] = 255
		}
	}
	tileB.SetRGBA(5, 5, rgb(0, 0, 255))
	g := Grid([]image.Image{tileA, tileB, red}, 3, 1, rgb(0, 0, 0))
	// Cells are 2×2; the 1×1 red tile sits at offset (0, 0) of its cell.
	for _, c := range []struct {
		x, y int
		want color.RGBA
	}{
		{0, 0, rgb(0, 0, 0)}, {1, 1, rgb(255, 255, 255)}, {2, 2, rgb(255, 255, 255)},
		{3, 1, rgb(0, 0, 0)}, {4, 1, rgb(0, 0, 255)}, {5, 2, rgb(255, 255, 255)},
		{7, 1, rgb(255, 0, 0)}, {8, 1, rgb(0, 0, 0)}, {7, 2, rgb(0, 0, 0)},
	} {
		if got := g.RGBAAt(c.x, c.y); got != c.want {
			t.Errorf("(%d,%d) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
}

type image2 struct{ *image.RGBA }

func TestUpscale(t *testing.T) {
	src := image.NewRGBA(image.Rect(3, 3, 5, 4)) // 2×1, offset origin
	src.SetRGBA(3, 3, rgb(10, 20, 30))
	src.SetRGBA(4, 3, rgb(40, 50, 60))
	for _, c := range []struct {
		factor, w, h int
	}{{3, 6, 3}, {1, 2, 1}, {0, 2, 1}, {-2, 2, 1}} {
		// image2 hides the concrete type: the generic path must agree.
		for _, in := range []image.Image{src, image2{src}} {
			up := Upscale(in, c.factor)
			if up.Bounds() != image.Rect(0, 0, c.w, c.h) {
				t.Fatalf("factor %d: bounds %v", c.factor, up.Bounds())
			}
			f := max(c.factor, 1)
			for y := 0; y < c.h; y++ {
				for x := 0; x < c.w; x++ {
					want := src.RGBAAt(3+x/f, 3+y/f)
					if got := up.RGBAAt(x, y); got != want {
						t.Errorf("factor %d (%d,%d) = %v, want %v", c.factor, x, y, got, want)
					}
				}
			}
		}
	}
}

func TestCaption(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 40, 10))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	out := Caption(img, "cat")
	if out.Bounds() != image.Rect(0, 0, 40, 25) {
		t.Fatalf("bounds %v, want 40×25", out.Bounds())
	}
	if out.RGBAAt(5, 5) != (color.RGBA{200, 200, 200, 200}) {
		t.Errorf("image pixel changed: %v", out.RGBAAt(5, 5))
	}
	dark := 0
	for y := 10; y < 25; y++ {
		for x := 0; x < 40; x++ {
			if out.RGBAAt(x, y).R < 128 {
				dark++
			}
		}
	}
	if dark < 10 {
		t.Errorf("only %d dark pixels in the caption strip", dark)
	}
	// Text wider than the image widens the result: 20 glyphs of 7 pixels.
	wide := Caption(img, strings.Repeat("x", 20))
	if wide.Bounds() != image.Rect(0, 0, 142, 25) {
		t.Errorf("wide caption bounds %v, want 142×25", wide.Bounds())
	}
	if got := wide.RGBAAt(51, 5); got != (color.RGBA{200, 200, 200, 200}) {
		t.Errorf("image not centred: %v", got)
	}
}

func TestEncodePNG(t *testing.T) {
	var buf bytes.Buffer
	src := MapImage([]float32{0, 0.25, 0.75, 1}, 2, 2, Viridis)
	if err := EncodePNG(&buf, src); err != nil {
		t.Fatal(err)
	}
	back, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		got := color.RGBAModel.Convert(back.At(i%2, i/2)).(color.RGBA)
		if got != src.RGBAAt(i%2, i/2) {
			t.Errorf("pixel %d = %v, want %v", i, got, src.RGBAAt(i%2, i/2))
		}
	}
	if err := EncodePNG(&buf, nil); err == nil || !strings.HasPrefix(err.Error(), "viz: ") {
		t.Errorf("nil image: err = %v", err)
	}
	if err := EncodePNG(&buf, Grid(nil, 1, 0, nil)); err == nil || !strings.HasPrefix(err.Error(), "viz: ") {
		t.Errorf("empty image: err = %v", err)
	}
}

func BenchmarkShowCAMOnImage224(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 224, 224))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	mask := make([]float32, 7*7)
	for i := range mask {
		mask[i] = float32(i) / 48
	}
	for b.Loop() {
		if _, err := ShowCAMOnImage(img, mask, 7, 7, Jet, 0.5); err != nil {
			b.Fatal(err)
		}
	}
}

// ShowCAMOnImageHeat gives ShowCAMOnImage's overlay and MapImage's
// heatmap byte for byte, with the mask at the image's size (one pass) and
// at another size.
func TestShowCAMOnImageHeat(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	img := image.NewRGBA(image.Rect(0, 0, 37, 23))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Intn(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	for _, size := range [][2]int{{37, 23}, {7, 5}} {
		mw, mh := size[0], size[1]
		mask := make([]float32, mw*mh)
		for i := range mask {
			mask[i] = float32(rng.Float64()*1.2 - 0.1)
		}
		mask[0] = float32(math.NaN())
		for _, cm := range []Colormap{Jet, Viridis} {
			for _, iw := range []float32{0, 0.5, 1} {
				want, err := ShowCAMOnImage(img, mask, mw, mh, cm, iw)
				if err != nil {
					t.Fatal(err)
				}
				overlay, heat, err := ShowCAMOnImageHeat(img, mask, mw, mh, cm, iw)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(overlay.Pix, want.Pix) || !bytes.Equal(heat.Pix, MapImage(mask, mw, mh, cm).Pix) {
					t.Errorf("%d×%d mask, weight %v: the overlay or the heatmap differs", mw, mh, iw)
				}
			}
		}
	}
	if _, _, err := ShowCAMOnImageHeat(img, make([]float32, 3), 2, 2, Jet, 0.5); err == nil {
		t.Error("a mask of the wrong length was accepted")
	}
}
