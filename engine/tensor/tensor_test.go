package tensor

import "testing"

func TestNewAndReshape(t *testing.T) {
	x := New(2, 3, 4)
	if x.Len() != 24 || len(x.F32()) != 24 || x.I64() != nil || x.Rank() != 3 {
		t.Fatalf("New(2,3,4): len %d", x.Len())
	}
	if got := x.Shape(); got[0] != 2 || got[2] != 4 {
		t.Fatalf("shape %v", got)
	}
	// The shape is the tensor's own: changing the caller's slice does not change it.
	dims := []int{4, 6}
	w := FromF32(x.F32(), dims...)
	dims[0] = 1
	if !SameShape(w.Shape(), []int{4, 6}) || &w.F32()[0] != &x.F32()[0] {
		t.Fatalf("FromF32: shape %v, storage shared %v", w.Shape(), &w.F32()[0] == &x.F32()[0])
	}
	x.F32()[5] = 7
	y, err := x.Reshape(6, 4)
	if err != nil || y.F32()[5] != 7 {
		t.Fatalf("reshape lost storage: %v", err)
	}
	if _, err := x.Reshape(5, 5); err == nil {
		t.Fatal("reshape to a wrong size must fail")
	}
	z := New(0, 3)
	if z.Len() != 0 || len(z.F32()) != 0 || !SameShape(z.Shape(), []int{0, 3}) {
		t.Fatal("zero-size tensor")
	}
	if c := x.Clone(); &c.F32()[0] == &x.F32()[0] || c.F32()[5] != 7 {
		t.Fatal("Clone must copy")
	}
	s := Scalar(3)
	if s.Rank() != 0 || s.Len() != 1 || s.F32()[0] != 3 {
		t.Fatal("scalar")
	}
	i := FromI64([]int64{1, -1}, 2)
	if i.DType() != Int64 || i.Ints()[1] != -1 || i.AsF32()[0] != 1 {
		t.Fatal("int64 tensor")
	}
	if ShapeString([]int{1, 3, 224, 224}) != "1×3×224×224" {
		t.Fatal(ShapeString([]int{1, 3, 224, 224}))
	}
}
