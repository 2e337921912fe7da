package cam

import (
	"fmt"
	"math"
	"math/rand"
	"sort"

	"github.com/cnnlens/cnnlens/engine/graph"
	"github.com/cnnlens/cnnlens/engine/internal/kind"
	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Faithfulness metrics for explanation maps, as in pytorch-grad-cam's
// metrics package: CamMultImageConfidenceChange (DropInConfidence,
// IncreaseInConfidence) and ROAD (Rong et al. 2022, "A Consistent and
// Efficient Evaluation Strategy for Attribution Methods").
//
// Every metric compares the target score of perturbed inputs with the score
// of the session's input. The score is Target.Score, whatever the target's
// kind: pytorch-grad-cam's examples measure confidence with
// ClassifierOutputSoftmaxTarget, which is Target{Kind: Probability}; with a
// Logit target the changes are in logits. Targets are resolved as in
// Compute (one per image, one for all, or none for the top-1 class). Maps
// are N×H×W, one per image at the input's size, as Result.Maps of a
// single-channel method.

// Confidence is the outcome of multiplying each image by its map.
type Confidence struct {
	Before []float32 // target score on the input
	After  []float32 // target score on input ⊙ map
	// Change is After − Before (CamMultImageConfidenceChange).
	Change []float32
	// Drop is max(Before − After, 0) (DropInConfidence).
	Drop []float32
	// Increase is 1 where After > Before, else 0 (IncreaseInConfidence:
	// averaged over images it is the fraction whose score went up).
	Increase []float32
}

// ConfidenceChange runs the model on every image multiplied by its map
// (x[b,c,i,j]·map[b,i,j], on the normalised input, as
// multiply_tensor_with_cam does) and compares the target scores.
func ConfidenceChange(s *Session, maps []float32, targets []Target) (*Confidence, error) {
	ts, err := metricSetup(s, maps, targets, "confidence change")
	if err != nil {
		return nil, err
	}
	sh := s.Input.Shape()
	n, c, hw := sh[0], sh[1], sh[2]*sh[3]
	x := s.Input.F32()
	after, err := scoreBatches(s, n, 0, nil, func(r int, dst []float32) {
		m := maps[r*hw : (r+1)*hw]
		for k := 0; k < c; k++ {
			off := (r*c + k) * hw
			for i, v := range m {
				dst[k*hw+i] = x[off+i] * v
			}
		}
	}, func(r int) Target { return ts[r] })
	if err != nil {
		return nil, err
	}
	res := &Confidence{Before: make([]float32, n), After: after, Change: make([]float32, n), Drop: make([]float32, n), Increase: make([]float32, n)}
	for b := 0; b < n; b++ {
		res.Before[b] = ts[b].Score(s.Logits(b))
		d := after[b] - res.Before[b]
		res.Change[b] = d
		res.Drop[b] = max(-d, 0)
		if d > 0 {
			res.Increase[b] = 1
		}
	}
	return res, nil
}

// ROADOptions configures ROAD. Zero values select the library's defaults.
type ROADOptions struct {
	// Percentiles of the map at which pixels are removed, each in 0..100
	// (default 10, 20, …, 90). See ROAD for what a percentile removes.
	Percentiles []float64
	// Noise is the standard deviation of the Gaussian noise added to the
	// imputed values, in units of the (normalised) input; default 0.01 as
	// NoisyLinearImputer, negative for none.
	Noise     float64
	Seed      int64 // noise seed
	BatchSize int   // images per forward pass (default: up to 8, see defaultBatch)
	// Progress, when set, is told how many perturbed images were scored;
	// returning false cancels (ROAD then returns ErrCancelled).
	Progress func(done, total int) bool

	// Part and Pieces divide ROAD among engines, as Request.Part and
	// Request.Pieces divide a method: a piece is one batch of the
	// perturbed images (ROADPieces tells how many there are and how many
	// scores each holds). With Part, ROAD scores only those batches and
	// returns their scores in ROADResult.Pieces; with Pieces (every
	// piece's scores, in order), it scores none and finishes from them:
	// the same numbers as one ROAD, since each batch is the same batch.
	Part   *Part
	Pieces []float32
}

// ROADResult holds the score changes of one ROAD run.
type ROADResult struct {
	Percentiles []float64
	// Change[p][b] is image b's target score after imputation at
	// Percentiles[p] minus its score on the input.
	Change [][]float32
	// Mean[b] averages Change over the percentiles
	// (ROADMostRelevantFirstAverage / ROADLeastRelevantFirstAverage).
	Mean []float32
	// Pieces holds a Part request's scores (the rest is then empty).
	Pieces []float32
}

// ROADPieces is how many pieces ROAD with opt divides into on s, and how
// many scores each piece holds (ROADOptions.Part).
func ROADPieces(s *Session, opt ROADOptions) (count, per int) {
	rows := len(ROADPercentiles(opt)) * s.Batch()
	batch := roadBatch(s, rows, opt.BatchSize)
	return (rows + batch - 1) / batch, batch
}

// ROADPercentiles is opt's percentiles, or the default ones.
func ROADPercentiles(opt ROADOptions) []float64 {
	if len(opt.Percentiles) == 0 {
		return []float64{10, 20, 30, 40, 50, 60, 70, 80, 90}
	}
	return opt.Percentiles
}

// roadBatch is the number of perturbed images per forward pass.
func roadBatch(s *Session, rows, batch int) int {
	if batch <= 0 {
		batch = defaultBatch(s)
	}
	return max(1, s.fitBatch(min(batch, max(rows, 1))))
}

// ROAD is Remove And Debias, pytorch-grad-cam's ROADMostRelevantFirst
// (mostRelevantFirst) or ROADLeastRelevantFirst, at every percentile p of
// opt.Percentiles.
//
// As in the library (RemoveMostRelevantFirst), a pixel is kept where
// m[i,j] < percentile_p(m), with m the map for MoRF and 1 − map for LeRF
// and numpy's linear-interpolation percentile; every other pixel is
// removed. So MoRF at p removes the (100 − p) % most relevant pixels and
// LeRF at p the (100 − p) % least relevant ones (p = 0 removes every pixel,
// p = 100 only those at the extreme value).
//
// Removed pixels are filled by noisy linear imputation
// (NoisyLinearImputer): in every channel each removed value is the weighted
// mean of its 8 neighbours inside the image (weight 1/6 for the 4 direct,
// 1/12 for the 4 diagonal neighbours, renormalised at the border), over
// known and removed neighbours alike, which is a sparse linear system in the
// removed values. The reference solves it directly (scipy spsolve); here it
// is solved by conjugate gradients with a symmetric SOR preconditioner to a
// relative residual of 1e-7, which agrees with the direct solution far below
// the added noise. Gaussian noise of standard deviation opt.Noise (default
// 0.01) is then added to the imputed values. One deviation: a connected
// region of removed pixels that touches no known pixel (p = 0 for MoRF
// removes the whole image) makes the system singular — scipy then returns
// NaN —, here its values are imputed as 0, the normalised input's mean, plus
// noise.
//
// The noise comes from math/rand, one stream per (percentile, image) seeded
// from opt.Seed, so results do not depend on the batch size.
func ROAD(s *Session, maps []float32, targets []Target, mostRelevantFirst bool, opt ROADOptions) (*ROADResult, error) {
	ts, err := metricSetup(s, maps, targets, "ROAD")
	if err != nil {
		return nil, err
	}
	pcts := ROADPercentiles(opt)
	for _, p := range pcts {
		if !(p >= 0 && p <= 100) {
			return nil, fmt.Errorf("cam: ROAD: percentile %v is outside 0..100", p)
		}
	}
	noise := opt.Noise
	if noise == 0 {
		noise = 0.01
	}
	if noise < 0 {
		noise = 0
	}
	sh := s.Input.Shape()
	n, c, h, w := sh[0], sh[1], sh[2], sh[3]
	hw := h * w
	chw := c * hw
	x := s.Input.F32()
	rows := len(pcts) * n
	batch := roadBatch(s, rows, opt.BatchSize)
	count := (rows + batch - 1) / batch
	req := &Request{Method: "ROAD", Part: opt.Part, Pieces: opt.Pieces}
	if opt.Part != nil && opt.Pieces != nil {
		return nil, kind.Errorf(ErrBadRequest, "cam: ROAD takes a part or the pieces, not both")
	}
	lo, hi, given, err := partRange(req, count, batch)
	if err != nil {
		return nil, err
	}
	scores := make([]float32, count*batch)
	if given != nil {
		copy(scores, given)
	} else {
		// Rows [r0, r1): whole batches of the whole computation.
		r0, r1 := lo*batch, min(hi*batch, rows)
		var fillErr error
		part, err := scoreBatches(s, r1-r0, batch, opt.Progress, func(r int, dst []float32) {
			r += r0
			p, b := pcts[r/n], r%n
			keep := roadKeep(maps[b*hw:(b+1)*hw], p, mostRelevantFirst)
			rng := rowRand(opt.Seed, r)
			if e := imputeLinear(dst, x[b*chw:(b+1)*chw], c, h, w, keep, noise, rng); e != nil && fillErr == nil {
				fillErr = e
			}
		}, func(r int) Target { return ts[(r+r0)%n] })
		if err != nil {
			return nil, err
		}
		if fillErr != nil {
			return nil, fillErr
		}
		copy(scores[r0:], part)
	}
	if opt.Part != nil {
		return &ROADResult{Percentiles: pcts, Pieces: scores[lo*batch : hi*batch]}, nil
	}
	res := &ROADResult{Percentiles: pcts, Mean: make([]float32, n)}
	for k := range pcts {
		row := make([]float32, n)
		for b := 0; b < n; b++ {
			row[b] = scores[k*n+b] - ts[b].Score(s.Logits(b))
		}
		res.Change = append(res.Change, row)
	}
	for b := 0; b < n; b++ {
		var sum float64
		for k := range pcts {
			sum += float64(res.Change[k][b])
		}
		res.Mean[b] = float32(sum / float64(len(pcts)))
	}
	return res, nil
}

// ROADCombined is pytorch-grad-cam's ROADCombined: per image,
// (LeRF mean − MoRF mean)/2 over the percentiles. Higher is better: removing
// the least relevant pixels should hurt less than removing the most
// relevant.
func ROADCombined(s *Session, maps []float32, targets []Target, opt ROADOptions) ([]float32, error) {
	lerf, err := ROAD(s, maps, targets, false, opt)
	if err != nil {
		return nil, err
	}
	morf, err := ROAD(s, maps, targets, true, opt)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(lerf.Mean))
	for b := range out {
		out[b] = (lerf.Mean[b] - morf.Mean[b]) / 2
	}
	return out, nil
}

// metricSetup checks the maps and resolves the targets.
func metricSetup(s *Session, maps []float32, targets []Target, what string) ([]Target, error) {
	sh := s.Input.Shape()
	n, h, w := sh[0], sh[2], sh[3]
	if len(maps) != n*h*w {
		return nil, fmt.Errorf("cam: %s needs one %d×%d map per image (%d values for %d images), got %d values", what, h, w, n*h*w, n, len(maps))
	}
	for _, v := range maps {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("cam: %s: the maps contain %v", what, v)
		}
	}
	return s.ResolveTargets(targets)
}

// scoreBatches runs the model forward (without a tape) on rows inputs that
// fill writes, batch at a time (default: defaultBatch), and returns each
// row's target score.
func scoreBatches(s *Session, rows, batch int, progress func(done, total int) bool, fill func(r int, dst []float32), target func(r int) Target) ([]float32, error) {
	if batch <= 0 {
		batch = defaultBatch(s)
	}
	batch = s.fitBatch(min(batch, rows))
	sh := s.Input.Shape()
	chw := sh[1] * sh[2] * sh[3]
	out := make([]float32, rows)
	for start := 0; start < rows; {
		k := min(batch, rows-start)
		x := tensor.New(k, sh[1], sh[2], sh[3])
		for i := 0; i < k; i++ {
			fill(start+i, x.F32()[i*chw:(i+1)*chw])
		}
		run, err := s.Model.Forward(x, &graph.Options{NoTape: true})
		if err != nil && k > 1 && start == 0 {
			// A graph that hard-codes a batch of one: one image per pass.
			if one, err1 := scoreBatches(s, rows, 1, progress, fill, target); err1 == nil {
				return one, nil
			}
		}
		if err != nil {
			return nil, err
		}
		logits := run.Value(s.Model.Output)
		if logits.Len()%k != 0 {
			return nil, fmt.Errorf("cam: output %q has shape %s for a batch of %d", s.Model.Output, tensor.ShapeString(logits.Shape()), k)
		}
		nc := logits.Len() / k
		for i := 0; i < k; i++ {
			out[start+i] = target(start + i).Score(logits.F32()[i*nc : (i+1)*nc])
		}
		start += k
		if progress != nil && !progress(start, rows) {
			return nil, ErrCancelled
		}
	}
	return out, nil
}

// roadKeep is RemoveMostRelevantFirst's binary mask (true: kept) for one
// map at percentile p: m < percentile_p(m), with m = map for MoRF and
// 1 − map (in float32) for LeRF.
func roadKeep(cam []float32, p float64, mostRelevantFirst bool) []bool {
	m := append([]float32(nil), cam...)
	if !mostRelevantFirst {
		for i, v := range m {
			m[i] = 1 - v
		}
	}
	thr := float32(percentileLinear(m, p))
	keep := make([]bool, len(m))
	for i, v := range m {
		keep[i] = v < thr
	}
	return keep
}

// percentileLinear is numpy's percentile (method "linear") of a.
func percentileLinear(a []float32, p float64) float64 {
	sorted := append([]float32(nil), a...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	idx := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(idx))
	lo = max(0, min(lo, len(sorted)-1))
	hi := min(lo+1, len(sorted)-1)
	t := idx - float64(lo)
	x0, x1 := float64(sorted[lo]), float64(sorted[hi])
	if t >= 0.5 {
		return x1 - (x1-x0)*(1-t)
	}
	return x0 + (x1-x0)*t
}

// roadNeighbours are NoisyLinearImputer's neighbour offsets (dy, dx) and
// weights.
var roadNeighbours = []struct {
	dy, dx int
	w      float64
}{
	{1, 1, 1.0 / 12}, {0, 1, 1.0 / 6}, {-1, 1, 1.0 / 12}, {1, -1, 1.0 / 12},
	{0, -1, 1.0 / 6}, {-1, -1, 1.0 / 12}, {1, 0, 1.0 / 6}, {-1, 0, 1.0 / 6},
}

// imputeLinear writes into dst (C×H×W) the image img with every pixel where
// keep is false replaced by noisy linear imputation (see ROAD): the solution
// of d_i·v_i − Σ_{removed j} w_ij v_j = Σ_{kept j} w_ij v_j over the removed
// pixels i, d_i the sum of the weights of i's neighbours inside the image,
// plus noise·N(0, 1).
func imputeLinear(dst, img []float32, c, h, w int, keep []bool, noise float64, rng *rand.Rand) error {
	hw := h * w
	copy(dst, img)
	vid := make([]int32, hw)
	var unknown []int32
	for i := range vid {
		vid[i] = -1
		if !keep[i] {
			vid[i] = int32(len(unknown))
			unknown = append(unknown, int32(i))
		}
	}
	m := len(unknown)
	if m == 0 {
		return nil
	}
	// The system: diagonal d and, for each unknown, its unknown neighbours
	// before it (lo) and after it (hi) in raster order, each as CSR; the
	// right-hand sides from known neighbours, channel-interleaved (u·c+k).
	sys := &sparseLaplace{c: c, d: make([]float64, m), loStart: make([]int32, m+1), hiStart: make([]int32, m+1)}
	rhs := make([]float64, m*c)
	var loCols, hiCols []int32
	var loVals, hiVals []float64
	for u, p := range unknown {
		y, x := int(p)/w, int(p)%w
		for _, nb := range roadNeighbours {
			yy, xx := y+nb.dy, x+nb.dx
			if yy < 0 || yy >= h || xx < 0 || xx >= w {
				continue
			}
			sys.d[u] += nb.w
			q := yy*w + xx
			if j := vid[q]; j >= 0 {
				if int(j) < u {
					loCols, loVals = append(loCols, j), append(loVals, nb.w)
				} else {
					hiCols, hiVals = append(hiCols, j), append(hiVals, nb.w)
				}
			} else {
				for k := 0; k < c; k++ {
					rhs[u*c+k] += nb.w * float64(img[k*hw+q])
				}
			}
		}
		sys.loStart[u+1], sys.hiStart[u+1] = int32(len(loCols)), int32(len(hiCols))
	}
	sys.loCols, sys.loVals, sys.hiCols, sys.hiVals = loCols, loVals, hiCols, hiVals
	sol := make([]float64, m*c)
	if err := sys.solve(rhs, sol); err != nil {
		return err
	}
	for k := 0; k < c; k++ {
		plane := dst[k*hw : (k+1)*hw]
		for u, p := range unknown {
			plane[p] = float32(sol[u*c+k])
		}
	}
	// torch.randn_like(res.t()) has the C×M layout: channel by channel.
	if noise > 0 {
		for k := 0; k < c; k++ {
			plane := dst[k*hw : (k+1)*hw]
			for _, p := range unknown {
				plane[p] += float32(noise * rng.NormFloat64())
			}
		}
	}
	return nil
}

// sparseLaplace is the symmetric system (D − W)v = b of the imputation, for
// c right-hand sides at once (vectors are interleaved: index u·c + k): D
// diagonal, W the weights between removed neighbours, split into the
// neighbours before (lo) and after (hi) each row, as CSR.
type sparseLaplace struct {
	c                int
	d                []float64
	loStart, hiStart []int32
	loCols, hiCols   []int32
	loVals, hiVals   []float64
}

// mul sets y = (D − W)x.
func (a *sparseLaplace) mul(x, y []float64) {
	c := a.c
	for i, di := range a.d {
		yi := y[i*c : (i+1)*c]
		for k := range yi {
			yi[k] = di * x[i*c+k]
		}
		for e := a.loStart[i]; e < a.loStart[i+1]; e++ {
			j, wv := int(a.loCols[e]), a.loVals[e]
			for k := range yi {
				yi[k] -= wv * x[j*c+k]
			}
		}
		for e := a.hiStart[i]; e < a.hiStart[i+1]; e++ {
			j, wv := int(a.hiCols[e]), a.hiVals[e]
			for k := range yi {
				yi[k] -= wv * x[j*c+k]
			}
		}
	}
}

// ssorOmega is the relaxation factor of the SSOR preconditioner (1.8 halves
// the iterations of ω = 1 on ResNet-18-sized masks).
const ssorOmega = 1.8

// precond applies the SSOR preconditioner, z = M⁻¹r with
// M = (D/ω − Wlo)(D/ω)⁻¹(D/ω − Whi)·ω/(2−ω): a forward and a backward
// relaxation sweep.
func (a *sparseLaplace) precond(r, z []float64) {
	c, om := a.c, ssorOmega
	for i, di := range a.d {
		zi := z[i*c : (i+1)*c]
		copy(zi, r[i*c:(i+1)*c])
		for e := a.loStart[i]; e < a.loStart[i+1]; e++ {
			j, wv := int(a.loCols[e]), a.loVals[e]
			for k := range zi {
				zi[k] += wv * z[j*c+k]
			}
		}
		f := om / di
		for k := range zi {
			zi[k] *= f
		}
	}
	for i, di := range a.d {
		f := di / om
		for k := 0; k < c; k++ {
			z[i*c+k] *= f
		}
	}
	for i := len(a.d) - 1; i >= 0; i-- {
		zi := z[i*c : (i+1)*c]
		for e := a.hiStart[i]; e < a.hiStart[i+1]; e++ {
			j, wv := int(a.hiCols[e]), a.hiVals[e]
			for k := range zi {
				zi[k] += wv * z[j*c+k]
			}
		}
		f := om / a.d[i]
		for k := range zi {
			zi[k] *= f
		}
	}
	f := (2 - om) / om
	for i := range z {
		z[i] *= f
	}
}

// solve finds x with (D − W)x = b for every right-hand side by
// preconditioned conjugate gradients from 0, each to ‖r‖ ≤ 1e-7‖b‖.
func (a *sparseLaplace) solve(b, x []float64) error {
	c := a.c
	for i := range x {
		x[i] = 0
	}
	for _, di := range a.d {
		if di == 0 {
			return nil // a 1×1 image: no neighbour to impute from
		}
	}
	dot := func(u, v, out []float64) {
		for k := range out {
			out[k] = 0
		}
		for i := 0; i < len(u); i += c {
			ui, vi := u[i:i+c], v[i:i+c]
			for k := range out {
				out[k] += ui[k] * vi[k]
			}
		}
	}
	tol := make([]float64, c)
	done := make([]bool, c)
	active := 0
	dot(b, b, tol)
	for k := range tol {
		tol[k] *= 1e-14
		if done[k] = tol[k] == 0; !done[k] {
			active++
		}
	}
	if active == 0 {
		return nil
	}
	n := len(b)
	r := append([]float64(nil), b...)
	z := make([]float64, n)
	p := make([]float64, n)
	q := make([]float64, n)
	a.precond(r, z)
	copy(p, z)
	rz := make([]float64, c)
	dot(r, z, rz)
	pq, rn, rz2 := make([]float64, c), make([]float64, c), make([]float64, c)
	alpha, beta := make([]float64, c), make([]float64, c)
	maxIter := 10*len(a.d) + 100
	for it := 0; it < maxIter; it++ {
		a.mul(p, q)
		dot(p, q, pq)
		for k := range alpha {
			alpha[k] = 0
			if !done[k] {
				if pq[k] <= 0 {
					// Only a singular part with a zero right-hand side is
					// left: the solution is exact.
					done[k] = true
					active--
					continue
				}
				alpha[k] = rz[k] / pq[k]
			}
		}
		for i := 0; i < n; i += c {
			xi, ri, pi, qi := x[i:i+c], r[i:i+c], p[i:i+c], q[i:i+c]
			for k, al := range alpha {
				xi[k] += al * pi[k]
				ri[k] -= al * qi[k]
			}
		}
		dot(r, r, rn)
		for k := range rn {
			if !done[k] && rn[k] <= tol[k] {
				done[k] = true
				active--
			}
		}
		if active == 0 {
			return nil
		}
		a.precond(r, z)
		dot(r, z, rz2)
		for k := range beta {
			beta[k] = 0
			if !done[k] {
				beta[k] = rz2[k] / rz[k]
				rz[k] = rz2[k]
			}
		}
		for k := range beta {
			if done[k] {
				beta[k] = 0
			}
		}
		for i := 0; i < n; i += c {
			pi, zi := p[i:i+c], z[i:i+c]
			for k, be := range beta {
				if done[k] {
					pi[k] = 0
				} else {
					pi[k] = zi[k] + be*pi[k]
				}
			}
		}
	}
	return fmt.Errorf("cam: ROAD: the imputation did not converge in %d iterations", maxIter)
}
