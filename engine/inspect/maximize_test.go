package inspect

import (
	"bytes"
	"fmt"
	"image/png"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cnnlens/cnnlens/engine/model"
)

var shapesOnce struct {
	sync.Once
	m         *model.Model
	mean, std []float32
	err       error
}

// loadShapes loads the bundled shapes model and its card's normalisation.
func loadShapes(t testing.TB) (*model.Model, []float32, []float32) {
	t.Helper()
	s := &shapesOnce
	s.Do(func() {
		dir := filepath.Join("..", "..", "models")
		s.m, s.err = model.LoadFile(filepath.Join(dir, "shapes.onnx"))
		if s.err != nil {
			return
		}
		var card struct {
			Mean []float32 `json:"mean"`
			Std  []float32 `json:"std"`
		}
		data, err := os.ReadFile(filepath.Join(dir, "shapes.json"))
		if err == nil {
			err = json.Unmarshal(data, &card)
		}
		s.mean, s.std, s.err = card.Mean, card.Std, err
	})
	if s.err != nil {
		t.Fatalf("shapes model: %v", s.err)
	}
	return s.m, s.mean, s.std
}

func TestMaximizeExplore(t *testing.T) {
	m, mean, std := loadShapes(t)
	type cfg struct {
		name string
		o    MaximizeOptions
	}
	var cs []cfg
	for _, tv := range []float64{-1, 2, 20, 200} {
		for _, f := range []bool{false, true} {
			cs = append(cs, cfg{fmt.Sprintf("tv%v_f%v", tv, f), MaximizeOptions{TV: tv, Fourier: f, Decorrelate: true}})
		}
	}
	for _, c := range cs {
		for _, ch := range []int{1, 3} {
			o := c.o
			o.Layer, o.Channel, o.Class, o.Mean, o.Std = "/block3/relu/Relu_output_0", ch, -1, mean, std
			r, err := Maximize(m, o)
			if err != nil {
				t.Fatal(err)
			}
			tvv := tvPenalty(r.Pixels, r.C, r.H, r.W, 0, nil)
			t.Logf("%s ch %d: start %.4f final %.4f ratio %.1f tv %.4f", c.name, ch, r.Start, r.Final, r.Final/r.Start, tvv)
			var buf bytes.Buffer
			png.Encode(&buf, r.Image())
			os.WriteFile(fmt.Sprintf("/tmp/max_%s_%d.png", c.name, ch), buf.Bytes(), 0o644)
		}
	}
}
