package shapes

import "math/rand/v2"

// Normalisation of the bundled model's input (pixels scaled to 0..1).
var (
	Mean = []float32{0.5, 0.5, 0.5}
	Std  = []float32{0.25, 0.25, 0.25}
)

// Set is a block of consecutive scenes held in memory, as a training or
// test set: scene i has seed First+i.
type Set struct {
	First  int64
	Size   int
	Pix    []uint8 // N·Size·Size·3, RGB
	Labels []uint8 // class, or LabelSet bit mask for NewMultiLabelSet
	// Shift (pixels) and Jitter (fraction) enable augmentation when
	// Example gets an rng: random translation with edge padding,
	// horizontal flips and brightness/contrast changes.
	Shift  int
	Jitter float64
}

// NewSet generates n scenes with seeds first…first+n−1.
func NewSet(first int64, n, size int) *Set {
	s := &Set{First: first, Size: size, Pix: make([]uint8, n*size*size*3), Labels: make([]uint8, n)}
	per := size * size * 3
	for i := 0; i < n; i++ {
		sc := Generate(first+int64(i), size)
		copy(s.Pix[i*per:], sc.Pix)
		s.Labels[i] = uint8(sc.Label)
	}
	return s
}

// Len is the number of scenes.
func (s *Set) Len() int { return len(s.Labels) }

// Example writes scene i as a normalised 3×Size×Size tensor into dst and
// returns its label.
func (s *Set) Example(i int, dst []float32, rng *rand.Rand) int {
	n := s.Size
	pix := s.Pix[i*n*n*3 : (i+1)*n*n*3]
	dx, dy, flip := 0, 0, false
	gain, bias := float32(1), float32(0)
	if rng != nil {
		if s.Shift > 0 {
			dx = rng.IntN(2*s.Shift+1) - s.Shift
			dy = rng.IntN(2*s.Shift+1) - s.Shift
		}
		flip = rng.IntN(2) == 1
		if s.Jitter > 0 {
			gain = float32(1 + s.Jitter*(2*rng.Float64()-1))
			bias = float32(s.Jitter * (2*rng.Float64() - 1))
		}
	}
	for y := 0; y < n; y++ {
		sy := min(max(y+dy, 0), n-1)
		for x := 0; x < n; x++ {
			sx := x + dx
			if flip {
				sx = n - 1 - x + dx
			}
			sx = min(max(sx, 0), n-1)
			p := pix[(sy*n+sx)*3:]
			for c := 0; c < 3; c++ {
				v := float32(p[c]) / 255
				if rng != nil {
					v = (v-0.5)*gain + 0.5 + bias
				}
				dst[c*n*n+y*n+x] = (v - Mean[c]) / Std[c]
			}
		}
	}
	return int(s.Labels[i])
}

// LabelSet is the set of classes present in a scene, as a bit mask (bit k
// for class k): the multi-label target.
func (s *Scene) LabelSet() int {
	set := 0
	for _, o := range s.Objects {
		set |= 1 << o.Class
	}
	return set
}

// NewMultiLabelSet generates n scenes with seeds first…first+n−1 labelled
// with the set of classes present (Labels holds LabelSet bit masks, and
// Example returns them).
func NewMultiLabelSet(first int64, n, size int) *Set {
	s := &Set{First: first, Size: size, Pix: make([]uint8, n*size*size*3), Labels: make([]uint8, n)}
	per := size * size * 3
	for i := 0; i < n; i++ {
		sc := Generate(first+int64(i), size)
		copy(s.Pix[i*per:], sc.Pix)
		s.Labels[i] = uint8(sc.LabelSet())
	}
	return s
}
