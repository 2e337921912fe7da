package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
	"github.com/cnnlens/cnnlens/models/shapes"
	"github.com/cnnlens/cnnlens/models/train"
)

// The multi-label benchmark: on scenes with two or more distinct classes,
// every (scene, present class) pair is explained with the map of that
// class, and the map is scored against the objects of the class:
//
//   - pointing (tolerant): a pixel of an object of the asked class lies
//     within the tolerance of the map's maximum; strict: the maximum is on
//     such an object;
//   - energy: the share of the map's non-negative mass on the asked
//     class's objects;
//   - discrimination: the tolerant hit, and the maximum is not on an
//     object of another class (the map chose the asked object over the
//     others in the scene).

// PairScore is one map's scores for one asked class.
type PairScore struct {
	Strict, Tolerant, Discriminates bool
	Energy                          float64
}

// ScorePair scores a size×size map for the asked class in a scene whose
// mask holds object index + 1 (0 for background) and whose objects have
// the classes objClass. A map with all values equal points nowhere.
func ScorePair(mp []float32, mask []uint8, size int, objClass []int, class, tol int) PairScore {
	own := func(id uint8) bool { return id > 0 && objClass[id-1] == class }
	other := func(id uint8) bool { return id > 0 && objClass[id-1] != class }
	var sc PairScore
	var in, all float64
	for p, v := range mp {
		v = float32(math.Max(float64(v), 0))
		all += float64(v)
		if own(mask[p]) {
			in += float64(v)
		}
	}
	if all > 0 {
		sc.Energy = in / all
	}
	if flat(mp) {
		return sc
	}
	top := argmax(mp)
	sc.Strict = own(mask[top])
	sc.Tolerant = nearWhere(mask, size, top, own, tol)
	sc.Discriminates = sc.Tolerant && !other(mask[top])
	return sc
}

// nearWhere reports whether a mask pixel within tol pixels (Euclidean) of
// pixel p satisfies ok.
func nearWhere(mask []uint8, size, p int, ok func(uint8) bool, tol int) bool {
	px, py := p%size, p/size
	for y := max(0, py-tol); y <= min(size-1, py+tol); y++ {
		for x := max(0, px-tol); x <= min(size-1, px+tol); x++ {
			if (x-px)*(x-px)+(y-py)*(y-py) <= tol*tol && ok(mask[y*size+x]) {
				return true
			}
		}
	}
	return false
}

// ClassScore is the mean of a method's pair scores, over all pairs or
// over the pairs of one asked class.
type ClassScore struct {
	Pointing       float64 `json:"pointing_game"`
	PointingTol    float64 `json:"pointing_game_tolerant"`
	Energy         float64 `json:"energy_in_mask"`
	Discrimination float64 `json:"class_discrimination"`
	Pairs          int     `json:"pairs"`
}

type tally struct {
	strict, tol, disc, n int
	energy               float64
}

func (t *tally) add(s PairScore) {
	t.n++
	t.energy += s.Energy
	if s.Strict {
		t.strict++
	}
	if s.Tolerant {
		t.tol++
	}
	if s.Discriminates {
		t.disc++
	}
}

func (t *tally) score() ClassScore {
	n := float64(max(t.n, 1))
	return ClassScore{Pointing: float64(t.strict) / n, PointingTol: float64(t.tol) / n, Energy: t.energy / n, Discrimination: float64(t.disc) / n, Pairs: t.n}
}

// MultiRow is one method's scores over the (scene, present class) pairs.
type MultiRow struct {
	Method string `json:"method"`
	ClassScore
	Seconds float64               `json:"seconds"`
	Err     string                `json:"error,omitempty"`
	ByClass map[string]ClassScore `json:"by_class,omitempty"`
}

// MultiReport is a multi-label run.
type MultiReport struct {
	N      int   `json:"scenes_generated"`
	Seed   int64 `json:"seed"`
	Scenes int   `json:"scenes"` // with two or more distinct classes
	Pairs  int   `json:"pairs"`
	// SetAccuracy is the share of those scenes whose predicted set
	// (probability ≥ 0.5) is exactly the set present; MeanAP the mean
	// average precision over the classes on them.
	SetAccuracy float64 `json:"set_accuracy"`
	MeanAP      float64 `json:"mean_average_precision"`
	// MaskShare is the mean share of the image covered by the asked
	// class's objects: the energy of a uniform map.
	MaskShare float64    `json:"mask_share"`
	Tolerance int        `json:"tolerance_px"`
	Rows      []MultiRow `json:"rows"`
}

type pair struct{ scene, class int }

// LocalizationMulti runs the multi-label benchmark on the scenes of seeds
// opt.Seed … opt.Seed+opt.N−1 that have two or more distinct classes,
// explaining each present class; the rows end with the two baselines of
// Baselines, scored the same way.
func LocalizationMulti(m *model.Model, opt Options) (*MultiReport, error) {
	h, methods, err := opt.prepare(m)
	if err != nil {
		return nil, err
	}
	w := h
	rep := &MultiReport{N: opt.N, Seed: opt.Seed, Tolerance: opt.Tolerance}
	var scenes []scene
	var pairs []pair
	for i := 0; i < opt.N; i++ {
		s := shapes.Generate(opt.Seed+int64(i), h)
		classes := distinctClasses(s)
		if len(classes) < 2 {
			continue
		}
		x := opt.input(s)
		for _, cl := range classes {
			pairs = append(pairs, pair{len(scenes), cl})
			rep.MaskShare += maskShare(s, cl)
		}
		scenes = append(scenes, scene{s, x})
	}
	rep.Scenes, rep.Pairs = len(scenes), len(pairs)
	if len(pairs) == 0 {
		return nil, fmt.Errorf("bench: no scene with two or more classes among %d", opt.N)
	}
	rep.MaskShare /= float64(len(pairs))

	// Set accuracy and mAP from one forward pass per batch.
	logits := make([][]float32, len(scenes))
	sets := make([]int, len(scenes))
	correct := 0
	for lo := 0; lo < len(scenes); lo += opt.Batch {
		hi := min(len(scenes), lo+opt.Batch)
		x := tensor.New(hi-lo, 3, h, w)
		for i := lo; i < hi; i++ {
			copy(x.F32()[(i-lo)*3*h*w:], scenes[i].x)
		}
		s, err := cam.NewSession(m, x)
		if err != nil {
			return nil, err
		}
		for b := 0; b < hi-lo; b++ {
			logits[lo+b] = append([]float32(nil), s.Logits(b)...)
			sets[lo+b] = scenes[lo+b].s.LabelSet()
			if train.PredictedSet(logits[lo+b]) == sets[lo+b] {
				correct++
			}
		}
	}
	rep.SetAccuracy = float64(correct) / float64(len(scenes))
	rep.MeanAP = train.MeanAveragePrecision(logits, sets)

	for _, method := range methods {
		start := time.Now()
		row := MultiRow{Method: method}
		var all tally
		byClass := map[int]*tally{}
		for lo := 0; lo < len(pairs); lo += opt.Batch {
			hi := min(len(pairs), lo+opt.Batch)
			inputs, classes := make([][]float32, hi-lo), make([]int, hi-lo)
			for k, p := range pairs[lo:hi] {
				inputs[k], classes[k] = scenes[p.scene].x, p.class
			}
			x, req := opt.batch(method, inputs, classes, h)
			s, err := cam.NewSession(m, x)
			if err != nil {
				return nil, err
			}
			res, err := cam.Compute(s, req)
			if err != nil {
				row.Err = err.Error()
				break
			}
			for k, p := range pairs[lo:hi] {
				mp := singleChannel(res.Map(k), res.Channels)
				sc := scenes[p.scene].s
				ps := ScorePair(mp, sc.Mask, h, objClasses(sc), p.class, opt.Tolerance)
				all.add(ps)
				if byClass[p.class] == nil {
					byClass[p.class] = &tally{}
				}
				byClass[p.class].add(ps)
			}
			if opt.Progress != nil {
				opt.Progress(method, hi, len(pairs))
			}
		}
		if row.Err == "" {
			row.ClassScore = all.score()
			row.ByClass = map[string]ClassScore{}
			for cl, t := range byClass {
				row.ByClass[shapes.Classes[cl]] = t.score()
			}
		}
		row.Seconds = time.Since(start).Seconds()
		rep.Rows = append(rep.Rows, row)
		if opt.Done != nil {
			opt.Done(Row{Method: method, Pointing: row.Pointing, PointingTol: row.PointingTol, Energy: row.Energy,
				Discrimination: row.Discrimination, Targets: row.Pairs, Seconds: row.Seconds, Err: row.Err})
		}
	}

	// The baselines: a bump at the image centre, and at the centroid of
	// the asked class's object (an oracle).
	mid := float64(h-1) / 2
	for _, b := range []struct {
		name string
		at   func(*shapes.Scene, int) (float64, float64)
	}{
		{"baseline: image centre", func(*shapes.Scene, int) (float64, float64) { return mid, mid }},
		{"oracle: the object's centroid", func(s *shapes.Scene, class int) (float64, float64) { return classCentroid(s, class) }},
	} {
		row := MultiRow{Method: b.name}
		var all tally
		byClass := map[int]*tally{}
		for _, p := range pairs {
			sc := scenes[p.scene].s
			cx, cy := b.at(sc, p.class)
			ps := ScorePair(bump(h, cx, cy), sc.Mask, h, objClasses(sc), p.class, opt.Tolerance)
			all.add(ps)
			if byClass[p.class] == nil {
				byClass[p.class] = &tally{}
			}
			byClass[p.class].add(ps)
		}
		row.ClassScore = all.score()
		row.ByClass = map[string]ClassScore{}
		for cl, t := range byClass {
			row.ByClass[shapes.Classes[cl]] = t.score()
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// distinctClasses lists the classes present in a scene, in class order.
func distinctClasses(s *shapes.Scene) []int {
	var out []int
	set := s.LabelSet()
	for c := range shapes.Classes {
		if set>>c&1 == 1 {
			out = append(out, c)
		}
	}
	return out
}

func objClasses(s *shapes.Scene) []int {
	out := make([]int, len(s.Objects))
	for i, o := range s.Objects {
		out[i] = o.Class
	}
	return out
}

func maskShare(s *shapes.Scene, class int) float64 {
	cnt := 0
	for _, v := range s.Mask {
		if v > 0 && s.Objects[v-1].Class == class {
			cnt++
		}
	}
	return float64(cnt) / float64(len(s.Mask))
}

// classCentroid is the rounded centroid of the pixels of the class's
// objects.
func classCentroid(s *shapes.Scene, class int) (float64, float64) {
	var sx, sy, k float64
	for p, v := range s.Mask {
		if v > 0 && s.Objects[v-1].Class == class {
			sx, sy, k = sx+float64(p%s.Size), sy+float64(p/s.Size), k+1
		}
	}
	if k == 0 {
		mid := float64(s.Size-1) / 2
		return mid, mid
	}
	return math.Round(sx / k), math.Round(sy / k)
}

// bump is the baselines' map: a smooth peak at (cx, cy).
func bump(size int, cx, cy float64) []float32 {
	m := make([]float32, size*size)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			m[y*size+x] = float32(1 / (1 + (dx*dx+dy*dy)/float64(size*size/16)))
		}
	}
	return m
}

// confident: every class present has a sigmoid ≥ 0.8 and every other
// one ≤ 0.2 (a showcase should not hinge on a 51 % call).
func confident(logits []float32, set int) bool {
	for c, z := range logits {
		p := 1 / (1 + math.Exp(-float64(z)))
		if in := set&(1<<c) != 0; (in && p < 0.8) || (!in && p > 0.2) {
			return false
		}
	}
	return true
}

// Showcases returns the seeds of the first k scenes from opt.Seed (looking
// at opt.N scenes at most) that show Grad-CAM choosing between objects: two
// objects of distinct classes, the model finds exactly the classes present
// (sigmoid ≥ 0.8, the others ≤ 0.2), and for each of them Grad-CAM's maximum (at opt.Layer)
// lies on an object of that class. The page opens on such a scene.
func Showcases(m *model.Model, opt Options, k int) ([]int64, error) {
	size, _, err := opt.prepare(m)
	if err != nil {
		return nil, err
	}
	var seeds []int64
	for i := 0; i < opt.N && len(seeds) < k; i++ {
		seed := opt.Seed + int64(i)
		s := shapes.Generate(seed, size)
		classes := distinctClasses(s)
		if len(classes) != 2 || len(s.Objects) != 2 {
			continue
		}
		x := opt.input(s)
		inputs := make([][]float32, len(classes))
		for j := range inputs {
			inputs[j] = x
		}
		xt, req := opt.batch("gradcam", inputs, classes, size)
		sess, err := cam.NewSession(m, xt)
		if err != nil {
			return nil, err
		}
		if !confident(sess.Logits(0), s.LabelSet()) {
			continue
		}
		res, err := cam.Compute(sess, req)
		if err != nil {
			return nil, err
		}
		objClass := objClasses(s)
		ok := true
		for j, cl := range classes {
			if sc := ScorePair(res.Map(j), s.Mask, size, objClass, cl, 0); !sc.Strict || !sc.Discriminates {
				ok = false
			}
		}
		if ok {
			seeds = append(seeds, seed)
		}
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("bench: no scene among %d from seed %d where Grad-CAM tells the classes apart", opt.N, opt.Seed)
	}
	return seeds, nil
}
