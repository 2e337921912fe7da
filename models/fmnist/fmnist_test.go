package fmnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeIDX(t *testing.T, path string, magic uint32, dims []int, body []byte, zip bool) {
	t.Helper()
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(body)
	data := b.Bytes()
	if zip {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(data)
		w.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadSynthetic(t *testing.T) {
	dir := t.TempDir()
	imgs := make([]byte, 2*Size*Size)
	imgs[5] = 255
	imgs[Size*Size+Size+3] = 128
	writeIDX(t, filepath.Join(dir, "x-images-idx3-ubyte.gz"), 0x803, []int{2, Size, Size}, imgs, true)
	writeIDX(t, filepath.Join(dir, "x-labels-idx1-ubyte.gz"), 0x801, []int{2}, []byte{3, 9}, true)
	s, err := Load(dir, "x")
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, Size*Size)
	if l := s.Example(0, dst, nil); l != 3 || math.Abs(float64(dst[5])-float64((1-Mean)/Std)) > 1e-6 || dst[0] != -Mean/Std {
		t.Fatalf("example 0: label %d, pixels %v %v", l, dst[5], dst[0])
	}
	// a flip moves pixel 5 of row 0 to column 22
	s.Shift = 0
	for seed := uint64(0); ; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		if r.IntN(2) != 1 {
			continue
		}
		s.Example(0, dst, rand.New(rand.NewPCG(seed, 1)))
		if dst[Size-1-5] != (1-Mean)/Std {
			t.Fatal("horizontal flip misplaced a pixel")
		}
		break
	}
	// errors: bad magic, wrong size, label out of range, missing file
	writeIDX(t, filepath.Join(dir, "bad-images-idx3-ubyte.gz"), 0x802, []int{2, Size, Size}, imgs, true)
	writeIDX(t, filepath.Join(dir, "bad-labels-idx1-ubyte.gz"), 0x801, []int{2}, []byte{3, 9}, true)
	if _, err := Load(dir, "bad"); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("bad magic: %v", err)
	}
	writeIDX(t, filepath.Join(dir, "short-images-idx3-ubyte.gz"), 0x803, []int{2, Size, Size}, imgs[:100], true)
	writeIDX(t, filepath.Join(dir, "short-labels-idx1-ubyte.gz"), 0x801, []int{2}, []byte{3, 9}, true)
	if _, err := Load(dir, "short"); err == nil {
		t.Error("truncated file loaded")
	}
	writeIDX(t, filepath.Join(dir, "lab-images-idx3-ubyte.gz"), 0x803, []int{2, Size, Size}, imgs, true)
	writeIDX(t, filepath.Join(dir, "lab-labels-idx1-ubyte.gz"), 0x801, []int{2}, []byte{3, 10}, true)
	if _, err := Load(dir, "lab"); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("label 10: %v", err)
	}
	if _, err := Load(dir, "none"); err == nil || !strings.Contains(err.Error(), "dataset-fashion-mnist") {
		t.Errorf("missing: %v", err)
	}
}

// TestStats checks the official files (when installed): sizes, class
// balance, and that Mean and Std are the training set's.
func TestStats(t *testing.T) {
	tr, err := Load("", "train")
	if err != nil {
		if os.Getenv("CNNLENS_REQUIRE_ALL") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	te, err := Load("", "t10k")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 60000 || te.Len() != 10000 {
		t.Fatalf("%d training and %d test images", tr.Len(), te.Len())
	}
	counts := make([]int, len(Labels))
	for _, l := range te.Labels {
		counts[l]++
	}
	for c, n := range counts {
		if n != 1000 {
			t.Errorf("class %s: %d test images", Labels[c], n)
		}
	}
	var sum, sq float64
	for _, v := range tr.Images {
		x := float64(v) / 255
		sum += x
		sq += x * x
	}
	n := float64(len(tr.Images))
	mean := sum / n
	std := math.Sqrt(sq/n - mean*mean)
	if math.Abs(mean-float64(Mean)) > 5e-4 || math.Abs(std-float64(Std)) > 5e-4 {
		t.Errorf("training set mean %.4f std %.4f; the package says %.4f and %.4f", mean, std, Mean, Std)
	}
}
