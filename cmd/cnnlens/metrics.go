package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cnnlens/cnnlens/engine/cam"
)

// runMetrics scores one explanation by how faithful it is: the change in
// the target's score when the image is multiplied by the map, ROAD
// (remove the most or least relevant pixels, impute them, re-score), and
// ARCC (complexity, coherency and ROAD together).
func runMetrics(args []string, stdout io.Writer) error {
	var f camFlags
	fs := newFlags("metrics")
	f.register(fs)
	asJSON := fs.Bool("json", false, "print the scores as JSON")
	roadNoise := fs.Float64("road-noise", 0.01, "ROAD: σ of the noise added to imputed pixels (0: none, the exact noise-free reference)")
	roadPcts := fs.String("road-percentiles", "10,20,30,40,50,60,70,80,90", "ROAD: percentiles for road_combined and the per-percentile lists, comma separated")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !(*roadNoise >= 0) || math.IsInf(*roadNoise, 0) {
		return fmt.Errorf("%w: -road-noise must be 0 or more, got %v", errUsage, *roadNoise)
	}
	var pcts []float64
	for _, p := range strings.Split(*roadPcts, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || !(v >= 0 && v <= 100) {
			return fmt.Errorf("%w: -road-percentiles: %q is not a percentile between 0 and 100", errUsage, p)
		}
		pcts = append(pcts, v)
	}
	opt := cam.ROADOptions{Percentiles: pcts, Noise: *roadNoise, Seed: f.seed}
	if *roadNoise == 0 {
		opt.Noise = -1 // ROADOptions: negative is none, 0 the default
	}
	l, s, err := f.session()
	if err != nil {
		return err
	}
	req, err := f.request(f.method, l, s)
	if err != nil {
		return err
	}
	r, err := cam.Compute(s, req)
	if err != nil {
		return err
	}
	if r.Channels != 1 {
		return fmt.Errorf("method %s gives an RGB map; metrics need a heatmap (try guided-gradcam's gradcam, or saliency)", f.method)
	}
	conf, err := cam.ConfidenceChange(s, r.Maps, r.Targets)
	if err != nil {
		return err
	}
	morf, err := cam.ROAD(s, r.Maps, r.Targets, true, opt)
	if err != nil {
		return err
	}
	lerf, err := cam.ROAD(s, r.Maps, r.Targets, false, opt)
	if err != nil {
		return err
	}
	// ARCC: complexity, coherency (the method again on image × map) and
	// ROADCombined at the library's percentiles 20, 40, 60, 80.
	complexity := cam.Complexity(r.Maps, len(r.Targets))
	req.Targets = r.Targets
	coh, err := cam.Coherency(s, req, r.Maps)
	if err != nil {
		return err
	}
	arccRoad := (lerf.Mean[0] - morf.Mean[0]) / 2
	if !slices.Equal(pcts, cam.ARCCPercentiles) {
		ao := opt
		ao.Percentiles = cam.ARCCPercentiles
		rc, err := cam.ROADCombined(s, r.Maps, r.Targets, ao)
		if err != nil {
			return err
		}
		arccRoad = rc[0]
	}
	out := struct {
		Method               string    `json:"method"`
		ClassIndex           int       `json:"class_index"`
		Score                float32   `json:"score"`
		ScoreOnMasked        float32   `json:"score_on_masked"`
		ConfidenceChange     float32   `json:"confidence_change"`
		DropInConfidence     float32   `json:"drop_in_confidence"`
		IncreaseInConfidence float32   `json:"increase_in_confidence"`
		Percentiles          []float64 `json:"road_percentiles"`
		ROADMoRF             []float32 `json:"road_morf"`
		ROADLeRF             []float32 `json:"road_lerf"`
		ROADMoRFMean         float32   `json:"road_morf_mean"`
		ROADLeRFMean         float32   `json:"road_lerf_mean"`
		ROADCombined         float32   `json:"road_combined"`
		ROADNoise            float64   `json:"road_noise"`
		Complexity           float32   `json:"complexity"`
		Coherency            float32   `json:"coherency"`
		ARCCROADCombined     float32   `json:"arcc_road_combined"`
		ARCC                 float32   `json:"arcc"`
	}{
		Method: f.method, ClassIndex: r.Targets[0].Class, Score: conf.Before[0], ScoreOnMasked: conf.After[0],
		ConfidenceChange: conf.Change[0], DropInConfidence: conf.Drop[0], IncreaseInConfidence: conf.Increase[0],
		Percentiles: morf.Percentiles, ROADMoRFMean: morf.Mean[0], ROADLeRFMean: lerf.Mean[0],
		ROADCombined: (lerf.Mean[0] - morf.Mean[0]) / 2, ROADNoise: *roadNoise,
		Complexity: complexity[0], Coherency: coh.Score[0], ARCCROADCombined: arccRoad,
		ARCC: cam.ARCC(complexity[0], coh.Score[0], arccRoad),
	}
	for p := range morf.Percentiles {
		out.ROADMoRF = append(out.ROADMoRF, morf.Change[p][0])
		out.ROADLeRF = append(out.ROADLeRF, lerf.Change[p][0])
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	fmt.Fprintf(stdout, "method %s, class %d, score %.4f\n", out.Method, out.ClassIndex, out.Score)
	fmt.Fprintf(stdout, "image × map: score %.4f, change %+.4f, drop in confidence %.4f, increase in confidence %.0f\n",
		out.ScoreOnMasked, out.ConfidenceChange, out.DropInConfidence, out.IncreaseInConfidence)
	fmt.Fprintf(stdout, "ROAD score change per percentile (MoRF: most relevant removed first, lower is better; LeRF: higher is better)\n")
	fmt.Fprintf(stdout, "%-10s %10s %10s\n", "percentile", "MoRF", "LeRF")
	for p, pc := range out.Percentiles {
		fmt.Fprintf(stdout, "%-10g %+10.4f %+10.4f\n", pc, out.ROADMoRF[p], out.ROADLeRF[p])
	}
	fmt.Fprintf(stdout, "%-10s %+10.4f %+10.4f   combined (LeRF − MoRF)/2: %+.4f\n", "mean", out.ROADMoRFMean, out.ROADLeRFMean, out.ROADCombined)
	fmt.Fprintf(stdout, "ARCC %.4f: complexity %.4f (lower is simpler), coherency %.4f, ROAD combined at 20/40/60/80 %+.4f\n",
		out.ARCC, out.Complexity, out.Coherency, out.ARCCROADCombined)
	return nil
}
