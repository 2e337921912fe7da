package inspect

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/kernels"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// Transforms names the spatial transforms the rotation finder tries, in the
// order it prefers them when several fit equally well: the rotations of the
// square, then its reflections. rot90 turns a filter a quarter turn
// counter-clockwise (numpy.rot90); flip_h mirrors left–right, flip_v
// top–bottom; transpose swaps rows and columns; antitranspose reflects
// across the other diagonal.
var Transforms = []string{"rot90", "rot180", "rot270", "flip_h", "flip_v", "transpose", "antitranspose"}

// MinGain is how much better than untransformed a transform must match
// for FindRotations to count a pair.
const MinGain = 0.1

// squareOnly marks the transforms that need a square kernel.
var squareOnly = map[string]bool{"rot90": true, "rot270": true, "transpose": true, "antitranspose": true}

// RotationPair says filter B is filter A under Transform: B ≈ T(A), with
// Score the cosine similarity of T(A) and B over all input channels.
type RotationPair struct {
	A         int     `json:"a"`
	B         int     `json:"b"`
	Transform string  `json:"transform"`
	Score     float64 `json:"score"`
	// Identity is the cosine similarity of A and B untransformed.
	Identity float64 `json:"identity"`
}

// TransformKernel applies a named transform to one kh×kw plane:
// out[i][j] = a[src(i,j)].
func TransformKernel(name string, a []float32, kh, kw int) ([]float32, error) {
	if squareOnly[name] && kh != kw {
		return nil, kind.Errorf(model.ErrBadLayer, "inspect: %s needs a square kernel, not %d×%d", name, kh, kw)
	}
	out := make([]float32, kh*kw)
	for i := 0; i < kh; i++ {
		for j := 0; j < kw; j++ {
			var si, sj int
			switch name {
			case "identity":
				si, sj = i, j
			case "rot90":
				si, sj = j, kw-1-i
			case "rot180":
				si, sj = kh-1-i, kw-1-j
			case "rot270":
				si, sj = kh-1-j, i
			case "flip_h":
				si, sj = i, kw-1-j
			case "flip_v":
				si, sj = kh-1-i, j
			case "transpose":
				si, sj = j, i
			case "antitranspose":
				si, sj = kh-1-j, kw-1-i
			default:
				return nil, kind.Errorf(ErrBadOption, "inspect: unknown transform %q (%v)", name, Transforms)
			}
			out[i*kw+j] = a[si*kw+sj]
		}
	}
	return out, nil
}

// FindRotations finds the pairs of filters (A < B) of an O×I×kh×kw weight
// tensor where B matches A under one of Transforms with cosine similarity at
// least threshold, and at least MinGain better than A and B match
// untransformed (so duplicates and nearly symmetric filters, which match
// under several transforms and untransformed alike, are not counted). Each pair is listed
// once, with its best transform; pairs are sorted by score, best first.
func FindRotations(w *tensor.T, threshold float64) ([]RotationPair, error) {
	sh := w.Shape()
	if len(sh) != 4 {
		return nil, fmt.Errorf("inspect: filters must be O×I×kh×kw, got %s", tensor.ShapeString(sh))
	}
	o, in, kh, kw := sh[0], sh[1], sh[2], sh[3]
	if kh*kw < 2 {
		return nil, kind.Errorf(model.ErrBadLayer, "inspect: the kernels are %d×%d; a rotation of a single weight is the weight itself", kh, kw)
	}
	if !(threshold > 0 && threshold <= 1) {
		return nil, kind.Errorf(ErrBadOption, "inspect: threshold must be in (0, 1], got %v", threshold)
	}
	n := in * kh * kw
	// unit rows: each filter divided by its norm (zero filters stay zero)
	unit := make([]float32, o*n)
	copy(unit, w.F32())
	for f := 0; f < o; f++ {
		row := unit[f*n : (f+1)*n]
		var s float64
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		if s > 0 {
			inv := float32(1 / math.Sqrt(s))
			for i := range row {
				row[i] *= inv
			}
		}
	}
	sim, err := similarities(unit, o, in, kh, kw)
	if err != nil {
		return nil, err
	}
	ident := sim["identity"]
	best := map[[2]int]RotationPair{}
	for _, name := range Transforms {
		if squareOnly[name] && kh != kw {
			continue
		}
		c := sim[name]
		for a := 0; a < o; a++ {
			for b := a + 1; b < o; b++ {
				s := float64(c[a*o+b])
				id := float64(ident[a*o+b])
				if s < threshold || s < id+MinGain {
					continue
				}
				key := [2]int{a, b}
				if p, ok := best[key]; !ok || s > p.Score+1e-9 {
					best[key] = RotationPair{A: a, B: b, Transform: name, Score: round6(s), Identity: round6(id)}
				}
			}
		}
	}
	out := make([]RotationPair, 0, len(best))
	for _, p := range best {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		if out[i].A != out[j].A {
			return out[i].A < out[j].A
		}
		return out[i].B < out[j].B
	})
	return out, nil
}

// similarities computes, for the identity and each applicable transform T,
// the O×O matrix c[a][b] = <T(unit_a), unit_b>. A transform moves kernel
// position src_T(p) to p, so with X_p the O×I matrix of every filter's
// weights at position p, <T(a), b> = Σ_p (X_{src_T(p)} X_pᵀ)[a][b]. The
// products X_q X_pᵀ needed are those with q in p's orbit under the
// transforms (for 3×3: 33 of them, each O×O×I), each computed once and
// added to every transform that uses it: 2.2× fewer multiplications than
// one O×O×(I·k²) product per transform.
func similarities(unit []float32, o, in, kh, kw int) (map[string][]float32, error) {
	k := kh * kw
	names := []string{"identity"}
	for _, name := range Transforms {
		if !squareOnly[name] || kh == kw {
			names = append(names, name)
		}
	}
	// src[name][p]: the position T takes to p
	idx := make([]float32, k)
	for p := range idx {
		idx[p] = float32(p)
	}
	users := map[[2]int][]string{} // (q, p) → the transforms with src(p) = q
	var pairs [][2]int
	for _, name := range names {
		src, err := TransformKernel(name, idx, kh, kw)
		if err != nil {
			return nil, err
		}
		for p, q := range src {
			key := [2]int{int(q), p}
			if users[key] == nil {
				pairs = append(pairs, key)
			}
			users[key] = append(users[key], name)
		}
	}
	// X_p, gathered: x[p] is O×I
	x := make([][]float32, k)
	n := in * k
	for p := range x {
		x[p] = make([]float32, o*in)
		for f := 0; f < o; f++ {
			for c := 0; c < in; c++ {
				x[p][f*in+c] = unit[f*n+c*k+p]
			}
		}
	}
	out := map[string][]float32{}
	for _, name := range names {
		out[name] = make([]float32, o*o)
	}
	g := make([]float32, o*o)
	for _, pq := range pairs {
		q, p := pq[0], pq[1]
		kernels.Sgemm(false, true, o, o, in, 1, x[q], in, x[p], in, 0, g, o)
		for _, name := range users[pq] {
			dst := out[name]
			for i, v := range g {
				dst[i] += v
			}
		}
	}
	return out, nil
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// RotationTiles are one pair's three pictures, uncaptioned: filter A, A
// under the pair's transform and filter B, drawn as FilterTiles draws them
// (Mode: rgb for three input channels, else magnitude, Σ|w| over the input
// channels), all three on one scale, ±Scale.
type RotationTiles struct {
	A, TA, B image.Image
	Mode     string
	Scale    float32
}

// RotationTiles draws each pair's three tiles.
func (c *ConvLayer) RotationTiles(pairs []RotationPair, opt FilterOptions) ([]RotationTiles, error) {
	mode, err := c.ResolveMode(opt.Mode)
	if err != nil {
		return nil, err
	}
	if mode == "channels" && c.Weight.Shape()[1] > 1 {
		mode = "magnitude"
	}
	opt.Mode, opt.Max, opt.Labels = mode, 0, false
	tiles, _, err := c.FilterTiles(opt)
	if err != nil {
		return nil, err
	}
	// transformed copies of A, drawn with the same scale
	sh := c.Weight.Shape()
	in, kh, kw := sh[1], sh[2], sh[3]
	k := kh * kw
	var out []RotationTiles
	for _, p := range pairs {
		src := c.Weight.F32()[p.A*in*k : (p.A+1)*in*k]
		tw := tensor.New(sh...)
		copy(tw.F32(), c.Weight.F32())
		dst := tw.F32()[p.A*in*k : (p.A+1)*in*k]
		for i := 0; i < in; i++ {
			r, err := TransformKernel(p.Transform, src[i*k:(i+1)*k], kh, kw)
			if err != nil {
				return nil, err
			}
			copy(dst[i*k:], r)
		}
		tc := &ConvLayer{Node: c.Node, Output: c.Output, Weight: tw, Group: c.Group}
		ttiles, _, err := tc.FilterTiles(opt)
		if err != nil {
			return nil, err
		}
		out = append(out, RotationTiles{A: tiles[p.A], TA: ttiles[p.A], B: tiles[p.B], Mode: mode, Scale: c.filterScale(mode, p, opt.PerFilter)})
	}
	return out, nil
}

// filterScale is the |value| FilterTiles draws at full colour for pair
// p's filter A (the layer's largest unless perFilter).
func (c *ConvLayer) filterScale(mode string, p RotationPair, perFilter bool) float32 {
	sh := c.Weight.Shape()
	n, k := sh[1]*sh[2]*sh[3], sh[2]*sh[3]
	w := c.Weight.F32()
	scale := func(f int) float32 {
		src := w[f*n : (f+1)*n]
		if mode != "magnitude" {
			return AbsMax(src)
		}
		mag := make([]float32, k)
		for i, v := range src {
			mag[i%k] += float32(math.Abs(float64(v)))
		}
		return AbsMax(mag)
	}
	if perFilter {
		return scale(p.A)
	}
	var s float32
	for f := 0; f < sh[0]; f++ {
		s = max(s, scale(f))
	}
	return s
}

// RotationPicture draws up to max pairs, one row each: filter A, A under the
// transform, and filter B, drawn as FilterTiles draws them (mode auto), with
// captions naming the filters and the transform.
func (c *ConvLayer) RotationPicture(pairs []RotationPair, max int, opt FilterOptions) (*image.RGBA, error) {
	if max > 0 && len(pairs) > max {
		pairs = pairs[:max]
	}
	if len(pairs) == 0 {
		if _, err := c.ResolveMode(opt.Mode); err != nil {
			return nil, err
		}
		return viz.Caption(image.NewRGBA(image.Rect(0, 0, 160, 8)), "no rotated pairs"), nil
	}
	ts, err := c.RotationTiles(pairs, opt)
	if err != nil {
		return nil, err
	}
	var rows []image.Image
	for i, p := range pairs {
		rows = append(rows,
			viz.Caption(ts[i].A, fmt.Sprintf("#%d", p.A)),
			viz.Caption(ts[i].TA, p.Transform),
			viz.Caption(ts[i].B, fmt.Sprintf("#%d %.2f", p.B, p.Score)))
	}
	return viz.Grid(rows, 3, 2, color.RGBA{40, 40, 40, 255}), nil
}

// ChanceRotations is the mean number of pairs FindRotations reports when
// each filter's weights are shuffled (same values, structure destroyed),
// over draws shuffles: how many pairs a layer would show by chance.
func ChanceRotations(w *tensor.T, threshold float64, draws int, seed uint64) (float64, error) {
	sh := w.Shape()
	if len(sh) != 4 {
		return 0, fmt.Errorf("inspect: filters must be O×I×kh×kw, got %s", tensor.ShapeString(sh))
	}
	r := rand.New(rand.NewPCG(seed, 3))
	n := sh[1] * sh[2] * sh[3]
	total := 0
	for d := 0; d < draws; d++ {
		s := tensor.New(sh...)
		copy(s.F32(), w.F32())
		v := s.F32()
		for f := 0; f < sh[0]; f++ {
			row := v[f*n : (f+1)*n]
			r.Shuffle(n, func(i, j int) { row[i], row[j] = row[j], row[i] })
		}
		p, err := FindRotations(s, threshold)
		if err != nil {
			return 0, err
		}
		total += len(p)
	}
	return float64(total) / float64(max(draws, 1)), nil
}
