// Package fmnist reads Fashion-MNIST (Zalando Research, MIT licence) from
// the IDX files that Debian's dataset-fashion-mnist package installs, with
// the official split: 60,000 training and 10,000 test images of 28×28 grey
// pixels in ten classes.
package fmnist

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Dir is where dataset-fashion-mnist puts the files.
const Dir = "/usr/share/datasets/fashion-mnist"

// Size is the image side in pixels.
const Size = 28

// Labels are the class names, in the dataset's label order.
var Labels = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// Mean and Std normalise pixels scaled to 0..1: the training set's mean
// and standard deviation (measured by TestStats).
var (
	Mean = float32(0.2860)
	Std  = float32(0.3530)
)

// Set is one split: Images holds N·28·28 bytes (0 = background), Labels N
// class indices.
type Set struct {
	Images []byte
	Labels []byte
	// Augment enables random translation by up to Shift pixels and
	// horizontal flips when Example gets an rng.
	Shift int
}

// Load reads a split ("train" or "t10k") from dir (Dir when "").
func Load(dir, split string) (*Set, error) {
	if dir == "" {
		dir = Dir
	}
	imgs, err := readIDX(filepath.Join(dir, split+"-images-idx3-ubyte.gz"), 0x803)
	if err != nil {
		return nil, err
	}
	labels, err := readIDX(filepath.Join(dir, split+"-labels-idx1-ubyte.gz"), 0x801)
	if err != nil {
		return nil, err
	}
	if len(imgs) != len(labels)*Size*Size {
		return nil, fmt.Errorf("fmnist: %s: %d image bytes for %d labels", split, len(imgs), len(labels))
	}
	for i, l := range labels {
		if int(l) >= len(Labels) {
			return nil, fmt.Errorf("fmnist: %s: label %d of example %d is out of range", split, l, i)
		}
	}
	return &Set{Images: imgs, Labels: labels}, nil
}

// readIDX reads a (gzipped) IDX file and checks its magic number and
// dimensions.
func readIDX(path string, magic uint32) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("fmnist: %s is missing (apt-get install dataset-fashion-mnist)", path)
		}
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("fmnist: %s: %w", path, err)
		}
		r = gz
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("fmnist: %s: %w", path, err)
	}
	if len(data) < 8 || binary.BigEndian.Uint32(data) != magic {
		return nil, fmt.Errorf("fmnist: %s: not an IDX file with magic %#x", path, magic)
	}
	dims := int(magic & 0xff)
	if len(data) < 4+4*dims {
		return nil, fmt.Errorf("fmnist: %s: truncated header", path)
	}
	n := 1
	for k := 0; k < dims; k++ {
		d := int(binary.BigEndian.Uint32(data[4+4*k:]))
		if k > 0 && d != Size {
			return nil, fmt.Errorf("fmnist: %s: dimension %d is %d, want %d", path, k, d, Size)
		}
		n *= d
	}
	body := data[4+4*dims:]
	if len(body) != n {
		return nil, fmt.Errorf("fmnist: %s: %d data bytes, the header says %d", path, len(body), n)
	}
	return body, nil
}

// Len is the number of examples.
func (s *Set) Len() int { return len(s.Labels) }

// Example writes image i, normalised, into dst (28·28 values) and returns
// its label; with rng it is shifted by up to Shift pixels in each direction
// (zero padding) and flipped horizontally half of the time.
func (s *Set) Example(i int, dst []float32, rng *rand.Rand) int {
	img := s.Images[i*Size*Size : (i+1)*Size*Size]
	dx, dy, flip := 0, 0, false
	if rng != nil {
		if s.Shift > 0 {
			dx = rng.IntN(2*s.Shift+1) - s.Shift
			dy = rng.IntN(2*s.Shift+1) - s.Shift
		}
		flip = rng.IntN(2) == 1
	}
	bg := -Mean / Std
	for y := 0; y < Size; y++ {
		sy := y + dy
		for x := 0; x < Size; x++ {
			sx := x + dx
			if flip {
				sx = Size - 1 - x + dx
			}
			v := bg
			if sy >= 0 && sy < Size && sx >= 0 && sx < Size {
				v = (float32(img[sy*Size+sx])/255 - Mean) / Std
			}
			dst[y*Size+x] = v
		}
	}
	return int(s.Labels[i])
}
