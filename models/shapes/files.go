package shapes

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
)

// Image returns the scene as an RGBA image.
func (s *Scene) Image() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, s.Size, s.Size))
	for i := 0; i < s.Size*s.Size; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = s.Pix[3*i], s.Pix[3*i+1], s.Pix[3*i+2], 255
	}
	return img
}

// MaskImage returns the mask as an 8-bit grey image: object index + 1, 0
// for background.
func (s *Scene) MaskImage() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, s.Size, s.Size))
	copy(img.Pix, s.Mask)
	return img
}

// Entry is one scene's record in labels.json.
type Entry struct {
	Label       string   `json:"label"`
	LabelObject int      `json:"label_object"`
	Objects     []string `json:"objects"`
}

// Entry describes the scene for labels.json.
func (s *Scene) Entry() Entry {
	e := Entry{Label: Classes[s.Label], LabelObject: s.LabelObject}
	for _, o := range s.Objects {
		e.Objects = append(e.Objects, Classes[o.Class])
	}
	return e
}

// WriteDir writes n scenes with seeds seed…seed+n−1 into dir: NNNN.png,
// NNNN_mask.png and labels.json keyed by the scene id ("0000", …; the
// width grows beyond 10,000 scenes). It returns the ids in order.
func WriteDir(dir string, n int, seed int64, size int) ([]string, error) {
	if n < 1 {
		return nil, fmt.Errorf("shapes: need at least one scene")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	width := max(4, len(fmt.Sprint(n-1)))
	labels := map[string]Entry{}
	ids := make([]string, n)
	for i := 0; i < n; i++ {
		s := Generate(seed+int64(i), size)
		id := fmt.Sprintf("%0*d", width, i)
		ids[i] = id
		if err := writePNG(filepath.Join(dir, id+".png"), s.Image()); err != nil {
			return nil, err
		}
		if err := writePNG(filepath.Join(dir, id+"_mask.png"), s.MaskImage()); err != nil {
			return nil, err
		}
		labels[id] = s.Entry()
	}
	data, err := json.MarshalIndent(labels, "", " ")
	if err != nil {
		return nil, err
	}
	return ids, os.WriteFile(filepath.Join(dir, "labels.json"), append(data, '\n'), 0o644)
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadMask reads a mask PNG written by WriteDir.
func ReadMask(path string) ([]uint8, int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	b := img.Bounds()
	out := make([]uint8, b.Dx()*b.Dy())
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out[y*b.Dx()+x] = color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
		}
	}
	return out, b.Dx(), b.Dy(), nil
}
