package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/cnnlens/cnnlens/engine/cam"
)

// runMetrics scores one explanation by how faithful it is: the change in
// the target's score when the image is multiplied by the map, and ROAD
// (remove the most or least relevant pixels, impute them, re-score).
func runMetrics(args []string, stdout io.Writer) error {
	var f camFlags
	fs := newFlags("metrics")
	f.register(fs)
	asJSON := fs.Bool("json", false, "print the scores as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	_, s, err := f.session()
	if err != nil {
		return err
	}
	req, err := f.request(f.method)
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
	morf, err := cam.ROAD(s, r.Maps, r.Targets, true, cam.ROADOptions{})
	if err != nil {
		return err
	}
	lerf, err := cam.ROAD(s, r.Maps, r.Targets, false, cam.ROADOptions{})
	if err != nil {
		return err
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
	}{
		Method: f.method, ClassIndex: r.Targets[0].Class, Score: conf.Before[0], ScoreOnMasked: conf.After[0],
		ConfidenceChange: conf.Change[0], DropInConfidence: conf.Drop[0], IncreaseInConfidence: conf.Increase[0],
		Percentiles: morf.Percentiles, ROADMoRFMean: morf.Mean[0], ROADLeRFMean: lerf.Mean[0],
		ROADCombined: (lerf.Mean[0] - morf.Mean[0]) / 2,
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
	return nil
}
