package imgproc

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var oracleDir = filepath.Join("..", "..", "..", "shared", "oracle")

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reference data missing: %v", err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// The oracle's probe arrays pin down both bilinear conventions: a 7×7 map
// resized to 224×224 by OpenCV, by torch with align_corners=False and True.
func TestResizeMatchesReference(t *testing.T) {
	for _, model := range []string{"tinycnn", "resnet18"} {
		dir := filepath.Join(oracleDir, model, "raw")
		src := readF32(t, filepath.Join(dir, "probe.resize_src.f32"))
		n := int(math.Sqrt(float64(len(src))))
		for _, c := range []struct {
			file  string
			align bool
		}{{"probe.resize_cv2_224.f32", false}, {"probe.resize_torch_acfalse_224.f32", false}, {"probe.resize_torch_actrue_224.f32", true}} {
			want := readF32(t, filepath.Join(dir, c.file))
			m := int(math.Sqrt(float64(len(want))))
			got := make([]float32, m*m)
			ResizeBilinear(src, n, n, got, m, m, c.align)
			var worst float64
			for i := range got {
				worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
			}
			if worst > 1e-5 {
				t.Errorf("%s %s: max difference %g", model, c.file, worst)
			}
		}
	}
}

func pngBytes(t *testing.T, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 40), uint8(y * 40), 200, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeErrors(t *testing.T) {
	good := pngBytes(t, 4, 3)
	if _, err := Decode(good); err != nil {
		t.Fatalf("valid PNG: %v", err)
	}
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":     {nil, "empty"},
		"text":      {[]byte("hello, this is not an image"), "not an image"},
		"truncated": {good[:len(good)/2], "corrupt"},
	}
	for name, c := range cases {
		_, err := Decode(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, c.want)
		}
	}
	// A PNG header claiming 100000×100000 pixels is refused before decoding.
	huge := append([]byte(nil), good...)
	binary.BigEndian.PutUint32(huge[16:], 100000)
	binary.BigEndian.PutUint32(huge[20:], 100000)
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	if _, err := Decode(huge); err == nil || !strings.Contains(err.Error(), "megapixels") {
		t.Errorf("huge image: got %v", err)
	}
}

func TestToTensorNormalises(t *testing.T) {
	img, err := Decode(pngBytes(t, 4, 3))
	if err != nil {
		t.Fatal(err)
	}
	x, err := ToTensor(img, 3, 3, 4, ImageNetMean, ImageNetStd)
	if err != nil {
		t.Fatal(err)
	}
	// Same size: no interpolation, so pixel (x=2, y=1) is exact.
	d := x.F32()
	want := []float32{(80.0/255 - 0.485) / 0.229, (40.0/255 - 0.456) / 0.224, (200.0/255 - 0.406) / 0.225}
	for c := 0; c < 3; c++ {
		if got := d[c*12+1*4+2]; math.Abs(float64(got-want[c])) > 1e-5 {
			t.Errorf("channel %d: %g, want %g", c, got, want[c])
		}
	}
	g, err := ToTensor(img, 1, 6, 8, []float32{0}, []float32{1})
	if err != nil || g.Shape()[1] != 1 || g.Shape()[2] != 6 {
		t.Fatalf("grey resize: %v %v", err, g)
	}
	if _, err := ToTensor(img, 4, 3, 4, nil, nil); err == nil {
		t.Error("4 channels must be refused")
	}
}
