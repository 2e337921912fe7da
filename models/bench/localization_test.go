package bench

import (
	"testing"

	"github.com/cnnlens/cnnlens/models/shapes"
)

// The centroid oracle of the table points at every labelled object except
// rings (their centroid is in the hole), as docs/localisation.md says, and beats the
// image centre.
func TestCentroidOracle(t *testing.T) {
	const n, seed, size = 300, 2000000, shapes.DefaultSize
	rows := Baselines(&Report{Tolerance: Tolerance(size)}, n, seed, size)
	if len(rows) != 2 {
		t.Fatalf("%d baseline rows, want 2", len(rows))
	}
	centre, oracle := rows[0], rows[1]
	rings := 0
	for i := 0; i < n; i++ {
		if shapes.Classes[shapes.Generate(seed+int64(i), size).Label] == "ring" {
			rings++
		}
	}
	if rings == 0 {
		t.Fatal("no ring among the scenes")
	}
	if want := float64(n-rings) / n; oracle.Pointing != want {
		t.Errorf("centroid oracle points at %.4f of the objects, want %.4f (all but the %d rings)", oracle.Pointing, want, rings)
	}
	if oracle.Pointing <= centre.Pointing {
		t.Errorf("centroid oracle %.3f does not beat the image centre %.3f", oracle.Pointing, centre.Pointing)
	}
}
