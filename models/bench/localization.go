// Package bench scores explanation methods against the known object
// locations of shapes scenes: our version of the localisation table of
// the Grad-CAM paper.
//
// For every scene the method explains the class of the labelled (main)
// object, and the map is scored with
//
//   - the pointing game: the map's maximum lies inside the labelled
//     object's mask (strictly: no tolerance; a map whose maximum is not
//     unique counts where its first maximum in raster order is), and the
//     same with the tolerance of Zhang et al.'s pointing game, which the
//     Grad-CAM paper uses: 15 pixels at 224×224, scaled to the image (4
//     pixels at 64×64): a hit when a pixel of the object lies that close to
//     the maximum;
//   - energy inside the mask: the share of the map's total (non-negative)
//     mass that falls on the labelled object's pixels;
//
// and, on scenes with exactly two objects, class discrimination: the map
// is computed once for each object's class, and a target counts when the
// maximum lies on the object of that class.
//
// Maps with several channels (guided backprop, Guided Grad-CAM) are reduced
// to one by the largest absolute value over the channels, as saliency does.
package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/model"
	"github.com/cnnlens/cnnlens/engine/tensor"
	"github.com/cnnlens/cnnlens/models/shapes"
)

// Options configure a benchmark run.
type Options struct {
	N       int      // scenes
	Seed    int64    // first scene's seed
	Methods []string // default: every method of cam.Methods()
	Layer   string   // layer for layer methods ("" = the model's suggested layer)
	Mean    []float32
	Std     []float32
	Batch   int // images per session (default 25)
	// Steps and Samples for Integrated Gradients and SmoothGrad (0 = the
	// engine's defaults, 50 and 25).
	Steps, Samples int
	// Tolerance of the tolerant pointing game in pixels (0: 15 pixels
	// scaled from 224 to the image size).
	Tolerance int
	// Progress, when set, is told after each batch; Done after each
	// method.
	Progress func(method string, done, total int)
	Done     func(Row)
}

// Row is one method's scores.
type Row struct {
	Method         string  `json:"method"`
	Pointing       float64 `json:"pointing_game"` // share of scenes
	PointingTol    float64 `json:"pointing_game_tolerant"`
	Energy         float64 `json:"energy_in_mask"`       // mean share of the map's mass
	Discrimination float64 `json:"class_discrimination"` // share of (scene, class) targets on two-object scenes
	Scenes         int     `json:"scenes"`
	Targets        int     `json:"discrimination_targets"`
	Seconds        float64 `json:"seconds"`
	Err            string  `json:"error,omitempty"`
	// ByClass is the (strict) pointing game per class of the labelled
	// object.
	ByClass map[string]float64 `json:"pointing_game_by_class,omitempty"`
}

// classHits counts pointing-game hits per class of the labelled object.
type classHits map[string][2]int

func (c classHits) add(class int, hit bool) {
	name := shapes.Classes[class]
	v := c[name]
	v[1]++
	if hit {
		v[0]++
	}
	c[name] = v
}

func (c classHits) shares() map[string]float64 {
	out := make(map[string]float64, len(c))
	for k, v := range c {
		out[k] = float64(v[0]) / float64(v[1])
	}
	return out
}

// Report is a whole run.
type Report struct {
	N, TwoObject int
	Seed         int64
	Accuracy     float64 // top-1 accuracy of the model on the scenes
	// MaskShare is the mean share of the image covered by the labelled
	// object: the energy a uniform map would get.
	MaskShare float64
	Tolerance int // pixels, of the tolerant pointing game
	Rows      []Row
}

type scene struct {
	s *shapes.Scene
	x []float32
}

// prepare checks that m takes shapes scenes (3×S×S) and fills opt's
// defaults; it returns the scenes' size S and the methods to run.
func (opt *Options) prepare(m *model.Model) (size int, methods []string, err error) {
	shape, err := m.ConcreteInputShape(1)
	if err != nil {
		return 0, nil, err
	}
	c, h, w := shape[1], shape[2], shape[3]
	if c != 3 || h != w {
		return 0, nil, fmt.Errorf("bench: the model takes %s inputs; shapes scenes are 3×S×S", tensor.ShapeString(shape[1:]))
	}
	if opt.N < 1 {
		return 0, nil, fmt.Errorf("bench: need at least one scene")
	}
	if opt.Batch <= 0 {
		opt.Batch = 25
	}
	if len(opt.Mean) != 3 || len(opt.Std) != 3 {
		opt.Mean, opt.Std = shapes.Mean, shapes.Std
	}
	methods = opt.Methods
	if len(methods) == 0 {
		methods = cam.Methods()
	}
	if opt.Tolerance <= 0 {
		opt.Tolerance = Tolerance(h)
	}
	return h, methods, nil
}

// input is a scene as the model's input: C×H×W, normalised with opt's
// mean and std.
func (opt *Options) input(s *shapes.Scene) []float32 {
	n := s.Size * s.Size
	x := make([]float32, 3*n)
	for p := 0; p < n; p++ {
		for ch := 0; ch < 3; ch++ {
			x[ch*n+p] = (float32(s.Pix[3*p+ch])/255 - opt.Mean[ch]) / opt.Std[ch]
		}
	}
	return x
}

// batch stacks size×size scenes' inputs into one N×3×size×size tensor and
// asks method for classes[k] on input k, at opt.Layer when it is set.
func (opt *Options) batch(method string, inputs [][]float32, classes []int, size int) (*tensor.T, cam.Request) {
	x := tensor.New(len(inputs), 3, size, size)
	targets := make([]cam.Target, len(inputs))
	for k, in := range inputs {
		copy(x.F32()[k*3*size*size:], in)
		targets[k] = cam.Target{Class: classes[k]}
	}
	req := cam.Request{Method: method, Targets: targets, Steps: opt.Steps, Samples: opt.Samples, Seed: 1}
	if opt.Layer != "" {
		req.Layers = []string{opt.Layer}
	}
	return x, req
}

// Localization runs the benchmark on n scenes from opt.Seed.
func Localization(m *model.Model, opt Options) (*Report, error) {
	h, methods, err := opt.prepare(m)
	if err != nil {
		return nil, err
	}
	w := h
	rep := &Report{N: opt.N, Seed: opt.Seed, Tolerance: opt.Tolerance}
	scenes := make([]scene, opt.N)
	var two []int // indices of two-object scenes
	for i := range scenes {
		s := shapes.Generate(opt.Seed+int64(i), h)
		scenes[i] = scene{s, opt.input(s)}
		if len(s.Objects) == 2 {
			two = append(two, i)
		}
		cnt := 0
		for _, v := range s.Mask {
			if int(v) == s.LabelObject+1 {
				cnt++
			}
		}
		rep.MaskShare += float64(cnt) / float64(h*w) / float64(opt.N)
	}
	rep.TwoObject = len(two)

	// Jobs: every scene with its label's class, then each two-object
	// scene with each of its objects' classes.
	type job struct {
		scene, object int
		discr         bool
	}
	var jobs []job
	for i, sc := range scenes {
		jobs = append(jobs, job{i, sc.s.LabelObject, false})
	}
	for _, i := range two {
		for o := range scenes[i].s.Objects {
			jobs = append(jobs, job{i, o, true})
		}
	}

	// Accuracy, from one forward pass per batch.
	correct := 0
	for lo := 0; lo < opt.N; lo += opt.Batch {
		hi := min(opt.N, lo+opt.Batch)
		x := tensor.New(hi-lo, 3, h, w)
		for i := lo; i < hi; i++ {
			copy(x.F32()[(i-lo)*3*h*w:], scenes[i].x)
		}
		s, err := cam.NewSession(m, x)
		if err != nil {
			return nil, err
		}
		for b := 0; b < hi-lo; b++ {
			if argmax(s.Logits(b)) == scenes[lo+b].s.Label {
				correct++
			}
		}
	}
	rep.Accuracy = float64(correct) / float64(opt.N)

	for _, method := range methods {
		start := time.Now()
		row := Row{Method: method}
		var hits, tolHits, energyN, discHits, discN int
		var energy float64
		byClass := classHits{}
		for lo := 0; lo < len(jobs); lo += opt.Batch {
			hi := min(len(jobs), lo+opt.Batch)
			inputs, classes := make([][]float32, hi-lo), make([]int, hi-lo)
			for k, j := range jobs[lo:hi] {
				inputs[k], classes[k] = scenes[j.scene].x, scenes[j.scene].s.Objects[j.object].Class
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
			for k, j := range jobs[lo:hi] {
				mp := singleChannel(res.Map(k), res.Channels)
				sc := scenes[j.scene].s
				id := uint8(j.object + 1)
				top := argmax(mp)
				hit := sc.Mask[top] == id && !flat(mp)
				if j.discr {
					discN++
					if hit {
						discHits++
					}
					continue
				}
				if hit {
					hits++
				}
				byClass.add(sc.Label, hit)
				if !flat(mp) && near(sc.Mask, h, top, id, opt.Tolerance) {
					tolHits++
				}
				var in, all float64
				for p, v := range mp {
					v = float32(math.Max(float64(v), 0))
					all += float64(v)
					if sc.Mask[p] == id {
						in += float64(v)
					}
				}
				if all > 0 {
					energy += in / all
				}
				energyN++
			}
			if opt.Progress != nil {
				opt.Progress(method, hi, len(jobs))
			}
		}
		if row.Err == "" {
			row.Scenes, row.Targets = energyN, discN
			row.ByClass = byClass.shares()
			row.Pointing = float64(hits) / float64(max(energyN, 1))
			row.PointingTol = float64(tolHits) / float64(max(energyN, 1))
			row.Energy = energy / float64(max(energyN, 1))
			row.Discrimination = float64(discHits) / float64(max(discN, 1))
		}
		row.Seconds = time.Since(start).Seconds()
		rep.Rows = append(rep.Rows, row)
		if opt.Done != nil {
			opt.Done(row)
		}
	}
	return rep, nil
}

// Baselines scores maps that ignore the model, for reading the table: a
// bump at the image centre, and one at the centroid of the targeted
// object's mask (an oracle that knows where the object is: the ceiling for
// maps that peak at an object's middle, which for a ring lies in its hole).
func Baselines(rep *Report, n int, seed int64, size int) []Row {
	mid := float64(size-1) / 2
	centre := func(*shapes.Scene, int) (float64, float64) { return mid, mid }
	centroid := func(s *shapes.Scene, obj int) (float64, float64) {
		var sx, sy, k float64
		for p, v := range s.Mask {
			if v == uint8(obj+1) {
				sx, sy, k = sx+float64(p%size), sy+float64(p/size), k+1
			}
		}
		if k == 0 {
			return mid, mid
		}
		return math.Round(sx / k), math.Round(sy / k)
	}
	return []Row{
		baseline(rep, n, seed, size, "baseline: image centre", centre),
		baseline(rep, n, seed, size, "oracle: the object's centroid", centroid),
	}
}

// baseline scores a bump at the point at(scene, object) as a map.
func baseline(rep *Report, n int, seed int64, size int, name string, at func(*shapes.Scene, int) (float64, float64)) Row {
	bump := func(cx, cy float64) []float32 {
		m := make([]float32, size*size)
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				dx, dy := float64(x)-cx, float64(y)-cy
				m[y*size+x] = float32(1 / (1 + (dx*dx+dy*dy)/float64(size*size/16)))
			}
		}
		return m
	}
	row := Row{Method: name}
	var hits, tolHits, discHits, discN int
	var energy float64
	byClass := classHits{}
	for i := 0; i < n; i++ {
		s := shapes.Generate(seed+int64(i), size)
		id := uint8(s.LabelObject + 1)
		m := bump(at(s, s.LabelObject))
		top := argmax(m)
		if s.Mask[top] == id {
			hits++
		}
		byClass.add(s.Label, s.Mask[top] == id)
		if near(s.Mask, size, top, id, rep.Tolerance) {
			tolHits++
		}
		var in, all float64
		for p, v := range m {
			all += float64(v)
			if s.Mask[p] == id {
				in += float64(v)
			}
		}
		energy += in / all
		if len(s.Objects) == 2 {
			for o := range s.Objects {
				discN++
				if s.Mask[argmax(bump(at(s, o)))] == uint8(o+1) {
					discHits++
				}
			}
		}
	}
	row.Scenes, row.Targets = n, discN
	row.ByClass = byClass.shares()
	row.Pointing = float64(hits) / float64(n)
	row.PointingTol = float64(tolHits) / float64(n)
	row.Energy = energy / float64(n)
	row.Discrimination = float64(discHits) / float64(max(discN, 1))
	return row
}

// Tolerance is the pointing game's 15 pixels at 224×224 scaled to an image
// of the given side (4 at 64).
func Tolerance(size int) int { return max(1, (15*size+112)/224) }

// near reports whether a pixel of object id lies within tol pixels
// (Euclidean) of pixel p of a size×size mask.
func near(mask []uint8, size, p int, id uint8, tol int) bool {
	px, py := p%size, p/size
	for y := max(0, py-tol); y <= min(size-1, py+tol); y++ {
		for x := max(0, px-tol); x <= min(size-1, px+tol); x++ {
			if (x-px)*(x-px)+(y-py)*(y-py) <= tol*tol && mask[y*size+x] == id {
				return true
			}
		}
	}
	return false
}

// singleChannel reduces an H×W×C (channels last) map to H×W by the largest
// absolute value.
func singleChannel(m []float32, ch int) []float32 {
	if ch <= 1 {
		return m
	}
	out := make([]float32, len(m)/ch)
	for p := range out {
		var best float32
		for c := 0; c < ch; c++ {
			if v := float32(math.Abs(float64(m[p*ch+c]))); v > best {
				best = v
			}
		}
		out[p] = best
	}
	return out
}

func argmax(a []float32) int {
	best := 0
	for i, v := range a {
		if v > a[best] {
			best = i
		}
	}
	return best
}

// flat reports a map with no maximum to point with (all values equal).
func flat(a []float32) bool {
	for _, v := range a {
		if v != a[0] {
			return false
		}
	}
	return true
}
