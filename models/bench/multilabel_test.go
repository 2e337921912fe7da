package bench

import (
	"testing"
)

// ScorePair on a hand-made 10×10 scene: object 1 (class 3) covers
// columns 0–2 of rows 0–2, object 2 (class 5) columns 6–8 of rows 6–8.
func TestScorePair(t *testing.T) {
	const size, tol = 10, 2
	mask := make([]uint8, size*size)
	for y := 0; y < 3; y++ {
		for x := 0; x < 3; x++ {
			mask[y*size+x] = 1
			mask[(y+6)*size+x+6] = 2
		}
	}
	classes := []int{3, 5}
	peak := func(x, y int) []float32 {
		m := make([]float32, size*size)
		m[y*size+x] = 1
		return m
	}
	for _, c := range []struct {
		name                   string
		x, y, class            int
		strict, tolerant, disc bool
		energy                 float64
	}{
		{"on the asked object", 1, 1, 3, true, true, true, 1},
		{"beside it, within the tolerance", 4, 2, 3, false, true, true, 0},
		{"too far from it", 5, 2, 3, false, false, false, 0},
		{"on the other object", 7, 7, 3, false, false, false, 0},
		{"the other class, on its object", 7, 7, 5, true, true, true, 1},
		{"on the asked object's neighbour", 1, 1, 5, false, false, false, 0},
	} {
		s := ScorePair(peak(c.x, c.y), mask, size, classes, c.class, tol)
		if s.Strict != c.strict || s.Tolerant != c.tolerant || s.Discriminates != c.disc || s.Energy != c.energy {
			t.Errorf("%s: %+v", c.name, s)
		}
	}
	// Within the tolerance of the asked object but on the other one: a
	// pointing hit that does not discriminate.
	mask2 := make([]uint8, size*size)
	for x := 0; x < size; x++ {
		mask2[4*size+x] = 1 // a bar of class 3 on row 4
		mask2[6*size+x] = 2 // a bar of class 5 on row 6
	}
	m := peak(5, 6)
	m[4*size+5] = 0.5
	s := ScorePair(m, mask2, size, classes, 3, tol)
	if s.Strict || !s.Tolerant || s.Discriminates || s.Energy != 0.5/1.5 {
		t.Errorf("near both: %+v", s)
	}
	// A flat map points nowhere.
	if s := ScorePair(make([]float32, size*size), mask, size, classes, 3, tol); s.Tolerant || s.Strict || s.Discriminates {
		t.Errorf("flat map: %+v", s)
	}
}
