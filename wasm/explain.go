package main

import (
	"fmt"
	"image"
	"math"
	"strings"
	"time"

	"github.com/cnnlens/cnnlens/engine/cam"
	"github.com/cnnlens/cnnlens/engine/ops"
	"github.com/cnnlens/cnnlens/engine/viz"
)

// Faithfulness metrics and Deep Feature Factorization for the page: plain
// Go, tested natively (explain_test.go).

// MetricsRequest scores one method's map of an input, as `cnnlens metrics`.
// Its Part and Pieces (CAMRequest's) divide the ROAD passes among engines:
// the pieces are the batches of perturbed images of ROAD's MoRF, then
// LeRF, then (when the percentiles are not ARCC's) ARCC's LeRF and MoRF
// (cam.ROADOptions.Part). A Part request computes the map and those
// batches only; a Pieces request scores the rest from them.
type MetricsRequest struct {
	CAMRequest
	ROADNoise       float64   // σ of ROAD's imputation noise (0: none)
	ROADPercentiles []float64 // nil: 10, 20, …, 90
}

// MetricsResult holds the scores (the same fields as `cnnlens metrics -json`).
type MetricsResult struct {
	Method               string    `json:"method"`
	ClassIndex           int       `json:"classIndex"`
	Score                float32   `json:"score"`
	ScoreOnMasked        float32   `json:"scoreOnMasked"`
	ConfidenceChange     float32   `json:"confidenceChange"`
	DropInConfidence     float32   `json:"dropInConfidence"`
	IncreaseInConfidence float32   `json:"increaseInConfidence"`
	Percentiles          []float64 `json:"roadPercentiles"`
	ROADMoRF             []float32 `json:"roadMorf"`
	ROADLeRF             []float32 `json:"roadLerf"`
	ROADCombined         float32   `json:"roadCombined"`
	Complexity           float32   `json:"complexity"`
	Coherency            float32   `json:"coherency"`
	ARCCROADCombined     float32   `json:"arccRoadCombined"`
	ARCC                 float32   `json:"arcc"`
	MS                   float64   `json:"ms"`
	// A Part request's result: its pieces' data and the number of pieces
	// of the whole request (js.go sends them; the scores are then empty).
	Pieces     []float32 `json:"-"`
	PieceCount int       `json:"pieceCount"`
}

// Metrics computes a map and its confidence change, ROAD and ARCC.
func (e *Engine) Metrics(r MetricsRequest) (*MetricsResult, error) {
	start := time.Now()
	in, err := e.input(r.Input)
	if err != nil {
		return nil, err
	}
	if !(r.ROADNoise >= 0) || math.IsInf(r.ROADNoise, 0) {
		return nil, markf(ErrBadRequest, "ROAD noise must be 0 or more, got %v", r.ROADNoise)
	}
	req, err := camRequest(in, r.CAMRequest)
	if err != nil {
		return nil, err
	}
	req.Part, req.Pieces = nil, nil // they divide the metrics, not the map
	// The metrics score the map on the input's pass at the map's tier (the
	// reference tier's for a method of the exact tier), whichever tier the
	// input's first pass took, so that every worker computes the same.
	tier := cam.RequestTier(&req)
	if tier == ops.TierExact {
		tier = ops.TierReference
	}
	s, err := in.session.AtTier(tier)
	if err != nil {
		return nil, err
	}
	res, err := cam.Compute(s, req)
	if err != nil {
		return nil, err
	}
	if res.Channels != 1 {
		return nil, markf(ErrBadRequest, "method %s gives an RGB map; metrics need a heatmap", r.Method)
	}
	maps := res.Maps[:res.Height*res.Width]
	opt := cam.ROADOptions{Percentiles: r.ROADPercentiles, Noise: r.ROADNoise, Seed: r.Seed, Progress: r.Progress}
	if r.ROADNoise == 0 {
		opt.Noise = -1
	}
	// The ROAD runs, in the order of their pieces.
	runs := []roadRun{{opt: opt, morf: true}, {opt: opt}}
	arcc := !sameFloats(cam.ROADPercentiles(opt), cam.ARCCPercentiles)
	if arcc {
		ao := opt
		ao.Percentiles = cam.ARCCPercentiles
		runs = append(runs, roadRun{opt: ao}, roadRun{opt: ao, morf: true})
	}
	if r.Part != nil || r.Pieces != nil {
		if err := divideROAD(s, runs, r.Part, r.Pieces); err != nil {
			return nil, err
		}
	}
	if r.Part != nil && r.Progress != nil {
		// A part's progress counts its pieces (ROAD reports after each
		// batch), as the page adds up the parts' progress.
		done := 0
		for i := range runs {
			runs[i].opt.Progress = func(int, int) bool {
				done++
				return r.Progress(min(done, r.Part.Hi-r.Part.Lo), r.Part.Hi-r.Part.Lo)
			}
		}
	}
	if r.Part != nil {
		out := &MetricsResult{Method: r.Method, ClassIndex: res.Targets[0].Class}
		for i := range runs {
			if runs[i].opt.Part == nil {
				continue
			}
			rr, err := cam.ROAD(s, maps, res.Targets, runs[i].morf, runs[i].opt)
			if err != nil {
				return nil, err
			}
			out.Pieces = append(out.Pieces, rr.Pieces...)
		}
		out.PieceCount = runs[0].count + runs[1].count
		if arcc {
			out.PieceCount += runs[2].count + runs[3].count
		}
		out.MS = ms64(time.Since(start))
		return out, nil
	}
	conf, err := cam.ConfidenceChange(s, maps, res.Targets)
	if err != nil {
		return nil, err
	}
	roads := make([]*cam.ROADResult, len(runs))
	for i, run := range runs {
		if roads[i], err = cam.ROAD(s, maps, res.Targets, run.morf, run.opt); err != nil {
			return nil, err
		}
	}
	morf, lerf := roads[0], roads[1]
	out := &MetricsResult{Method: r.Method, ClassIndex: res.Targets[0].Class, Score: conf.Before[0], ScoreOnMasked: conf.After[0],
		ConfidenceChange: conf.Change[0], DropInConfidence: conf.Drop[0], IncreaseInConfidence: conf.Increase[0],
		Percentiles: morf.Percentiles, ROADCombined: (lerf.Mean[0] - morf.Mean[0]) / 2}
	for p := range morf.Percentiles {
		out.ROADMoRF = append(out.ROADMoRF, morf.Change[p][0])
		out.ROADLeRF = append(out.ROADLeRF, lerf.Change[p][0])
	}
	out.Complexity = cam.Complexity(maps, 1)[0]
	creq := req
	creq.Targets, creq.Progress = res.Targets, nil
	coh, err := cam.Coherency(s, creq, maps)
	if err != nil {
		return nil, err
	}
	out.Coherency = coh.Score[0]
	out.ARCCROADCombined = out.ROADCombined
	if arcc {
		// cam.ROADCombined: (LeRF mean − MoRF mean)/2.
		out.ARCCROADCombined = (roads[2].Mean[0] - roads[3].Mean[0]) / 2
	}
	out.ARCC = cam.ARCC(out.Complexity, out.Coherency, out.ARCCROADCombined)
	out.MS = ms64(time.Since(start))
	return out, nil
}

// roadRun is one of the metrics' ROAD runs: its options and direction,
// and its number of pieces.
type roadRun struct {
	opt   cam.ROADOptions
	morf  bool
	count int
}

// divideROAD sets each run's part of [part.Lo, part.Hi) of all the runs'
// pieces (the runs outside it get none: opt.Part stays nil), or hands each
// its share of pieces.
func divideROAD(s *cam.Session, runs []roadRun, part *cam.Part, pieces []float32) error {
	total, size := 0, 0
	for i := range runs {
		n, per := cam.ROADPieces(s, runs[i].opt)
		runs[i].count = n
		total += n
		size += n * per
	}
	if part != nil && pieces != nil {
		return markf(ErrBadRequest, "metrics: a request takes a part or the pieces, not both")
	}
	if part != nil && (part.Lo < 0 || part.Hi > total || part.Lo >= part.Hi) {
		return markf(ErrBadRequest, "metrics: part [%d, %d) is not within its %d pieces", part.Lo, part.Hi, total)
	}
	if pieces != nil && len(pieces) != size {
		return markf(ErrBadRequest, "metrics: %d values given for pieces of %d values", len(pieces), size)
	}
	off, at := 0, 0
	for i := range runs {
		n, per := cam.ROADPieces(s, runs[i].opt)
		if pieces != nil {
			runs[i].opt.Pieces = pieces[at : at+n*per]
			at += n * per
		} else if lo, hi := max(part.Lo-off, 0), min(part.Hi-off, n); lo < hi {
			runs[i].opt.Part = &cam.Part{Lo: lo, Hi: hi}
		}
		off += n
	}
	return nil
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// DFFRequest asks for a Deep Feature Factorization of an input's layer.
type DFFRequest struct {
	Input int
	Layer string // "" for the model's default layer
	N     int    // concepts (default 5)
	Top   int    // classes listed per concept (default 3)
}

// DFFConcept is one concept: its top classes through the model's linear
// head (none when it has no such head).
type DFFConcept struct {
	Index      int        `json:"index"`
	Color      [3]uint8   `json:"color"` // its colour in the overlay
	TopClasses []DFFClass `json:"topClasses"`
	Label      string     `json:"label"` // the legend's line
	Map        []float32  `json:"-"`     // Height×Width in 0..1
}

// DFFClass is one of a concept's classes.
type DFFClass struct {
	Class int     `json:"class"`
	Label string  `json:"label"`
	Logit float32 `json:"logit"`
	Prob  float64 `json:"prob"`
}

// DFFOut is a factorisation with its overlay (show_factorization_on_image
// over the input's picture, legend on the right).
type DFFOut struct {
	Layer    string       `json:"layer"`
	RelError float64      `json:"relError"`
	Concepts []DFFConcept `json:"concepts"`
	Width    int          `json:"width"` // of each concept map
	Height   int          `json:"height"`
	Overlay  *image.RGBA  `json:"-"`
	MS       float64      `json:"ms"`
}

// DFF factorises an input's layer into concepts.
func (e *Engine) DFF(r DFFRequest) (*DFFOut, error) {
	start := time.Now()
	in, err := e.input(r.Input)
	if err != nil {
		return nil, err
	}
	if r.N == 0 {
		r.N = 5
	}
	if r.Top == 0 {
		r.Top = 3
	}
	if r.N < 1 || r.Top < 1 {
		return nil, markf(ErrBadRequest, "DFF needs at least one concept and one class per concept (n %d, top %d)", r.N, r.Top)
	}
	layer := r.Layer
	if layer == "" {
		layer = in.model.info.DefaultLayer
	}
	d, err := cam.DFF(in.session, layer, r.N, cam.DFFOptions{})
	if err != nil {
		return nil, err
	}
	labels := in.model.info.Labels
	out := &DFFOut{Layer: d.Layer, RelError: d.RelError, Width: d.Width, Height: d.Height}
	legend := make([]string, d.K)
	hw := d.Width * d.Height
	for j := 0; j < d.K; j++ {
		c := viz.ConceptColor(j, d.K)
		con := DFFConcept{Index: j, Color: [3]uint8{uint8(255 * c[0]), uint8(255 * c[1]), uint8(255 * c[2])},
			Map: d.Maps[j*hw : (j+1)*hw]}
		var names []string
		for _, t := range d.TopClasses(j, r.Top) {
			cl := DFFClass{Class: t.Class, Label: fmt.Sprint(t.Class), Logit: t.Logit, Prob: t.Prob}
			if t.Class < len(labels) {
				cl.Label = labels[t.Class]
			}
			con.TopClasses = append(con.TopClasses, cl)
			names = append(names, fmt.Sprintf("%s %.2f", cl.Label, t.Prob))
		}
		con.Label = fmt.Sprintf("%d: %s", j, strings.Join(names, ", "))
		if names == nil {
			con.Label = fmt.Sprintf("concept %d", j)
		}
		legend[j] = con.Label
		out.Concepts = append(out.Concepts, con)
	}
	base := in.base
	if side := max(base.Bounds().Dx(), base.Bounds().Dy()); side < 256 {
		base = viz.Upscale(base, (256+side-1)/side)
	}
	out.Overlay, err = viz.ShowFactorizationOnImage(base, d.Maps[:d.K*hw], d.K, d.Width, d.Height, 0.5, legend)
	if err != nil {
		return nil, err
	}
	out.MS = ms64(time.Since(start))
	return out, nil
}
