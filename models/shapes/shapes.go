// Package shapes draws the synthetic scenes of the bundled shapes model:
// RGB images with one to three objects of eight classes on cluttered
// backgrounds, with a mask for every object, so that an explanation's
// location can be checked against the truth.
//
// A scene is a pure function of its seed (and size): the same seed gives
// the same pixels on every platform, natively and as WebAssembly (the
// generator uses its own PCG stream, no math.Exp/Log/Pow, and rounds once
// at the end).
//
// The scene's label is the class of its main object, which is always the
// largest: its circumradius is 14–20 pixels (at 64×64; sizes scale with the
// image) while the others' is 6–8, and the shapes' outlines are chosen so
// that the main object also has the largest area. Objects never overlap
// and have distinct classes.
package shapes

import (
	"math"
	"math/rand/v2"
)

// Classes are the object classes, in label order.
var Classes = []string{"circle", "square", "triangle", "star", "cross", "ring", "heart", "arrow"}

// DefaultSize is the side of the bundled model's scenes.
const DefaultSize = 64

// Object is one drawn object, in pixels.
type Object struct {
	Class int     // index into Classes
	X, Y  float64 // centre
	R     float64 // circumradius: the object fits in this circle
	Angle float64 // rotation in radians
	Color [3]uint8
}

// Scene is a generated image with its objects and masks.
type Scene struct {
	Seed int64
	Size int
	// Pix holds Size·Size RGB pixels, row by row (R, G, B bytes).
	Pix []uint8
	// Mask holds Size·Size bytes: object index + 1, 0 for background.
	Mask    []uint8
	Objects []Object
	// LabelObject is the index of the main object; Label its class.
	LabelObject int
	Label       int
	// Background names the background kind.
	Background string
}

// Backgrounds are the background kinds.
var Backgrounds = []string{"gradient", "stripes", "noise", "texture"}

type rgb [3]float64

func (c rgb) lum() float64 { return 0.299*c[0] + 0.587*c[1] + 0.114*c[2] }

func lerp(a, b rgb, t float64) rgb {
	return rgb{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

func clamp01(v float64) float64 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

// hsv converts hue (0..1), saturation and value to RGB.
func hsv(h, s, v float64) rgb {
	h = (h - math.Floor(h)) * 6
	i := int(h)
	f := h - float64(i)
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	switch i % 6 {
	case 0:
		return rgb{v, t, p}
	case 1:
		return rgb{q, v, p}
	case 2:
		return rgb{p, v, t}
	case 3:
		return rgb{p, q, v}
	case 4:
		return rgb{t, p, v}
	}
	return rgb{v, p, q}
}

func randColor(r *rand.Rand) rgb {
	return hsv(r.Float64(), 0.2+0.8*r.Float64(), 0.15+0.85*r.Float64())
}

// nearColor is a colour within ±d of c in each channel.
func nearColor(r *rand.Rand, c rgb, d float64) rgb {
	return rgb{clamp01(c[0] + d*(2*r.Float64()-1)), clamp01(c[1] + d*(2*r.Float64()-1)), clamp01(c[2] + d*(2*r.Float64()-1))}
}

func smoothstep(e0, e1, x float64) float64 {
	t := clamp01((x - e0) / (e1 - e0))
	return t * t * (3 - 2*t)
}

// background paints one of the background kinds into img (Size² colours).
func background(r *rand.Rand, img []rgb, size int) string {
	kind := r.IntN(len(Backgrounds))
	c1 := randColor(r)
	c2 := nearColor(r, c1, 0.35)
	n := float64(size)
	switch Backgrounds[kind] {
	case "gradient":
		a := 2 * math.Pi * r.Float64()
		dx, dy := math.Cos(a), math.Sin(a)
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				t := ((float64(x)-n/2)*dx + (float64(y)-n/2)*dy) / n * 1.4
				img[y*size+x] = lerp(c1, c2, clamp01(t+0.5))
			}
		}
	case "stripes":
		a := math.Pi * r.Float64()
		period := n * (0.06 + 0.12*r.Float64())
		dx, dy := math.Cos(a), math.Sin(a)
		phase := 2 * math.Pi * r.Float64()
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				s := math.Sin(2*math.Pi*(float64(x)*dx+float64(y)*dy)/period + phase)
				img[y*size+x] = lerp(c1, c2, smoothstep(-0.3, 0.3, s))
			}
		}
	case "noise":
		// Smooth value noise: random colours on a coarse grid, bilinear.
		cells := 3 + r.IntN(6)
		grid := make([]rgb, (cells+1)*(cells+1))
		for k := range grid {
			grid[k] = lerp(c1, c2, r.Float64())
		}
		for y := 0; y < size; y++ {
			gy := float64(y) / n * float64(cells)
			iy := int(gy)
			fy := gy - float64(iy)
			for x := 0; x < size; x++ {
				gx := float64(x) / n * float64(cells)
				ix := int(gx)
				fx := gx - float64(ix)
				top := lerp(grid[iy*(cells+1)+ix], grid[iy*(cells+1)+ix+1], fx)
				bot := lerp(grid[(iy+1)*(cells+1)+ix], grid[(iy+1)*(cells+1)+ix+1], fx)
				img[y*size+x] = lerp(top, bot, fy)
			}
		}
	case "texture":
		// Interfering plane waves: wavy, blotchy patterns.
		var fx, fy, ph [3]float64
		for k := range fx {
			a := 2 * math.Pi * r.Float64()
			f := 2 * math.Pi / (n * (0.08 + 0.2*r.Float64()))
			fx[k], fy[k], ph[k] = f*math.Cos(a), f*math.Sin(a), 2*math.Pi*r.Float64()
		}
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				var s float64
				for k := range fx {
					s += math.Sin(fx[k]*float64(x) + fy[k]*float64(y) + ph[k])
				}
				img[y*size+x] = lerp(c1, c2, smoothstep(-1.2, 1.2, s))
			}
		}
	}
	return Backgrounds[kind]
}

// Polygons in unit coordinates (x right, y down), inside the unit circle.
var (
	triangle = regular(3, 1, -math.Pi/2)
	star     = starPoly(5, 1, 0.45)
	arrow    = [][2]float64{{-0.95, -0.25}, {0.1, -0.25}, {0.1, -0.6}, {0.95, 0}, {0.1, 0.6}, {0.1, 0.25}, {-0.95, 0.25}}
)

func regular(n int, rad, start float64) [][2]float64 {
	out := make([][2]float64, n)
	for k := range out {
		a := start + 2*math.Pi*float64(k)/float64(n)
		out[k] = [2]float64{rad * math.Cos(a), rad * math.Sin(a)}
	}
	return out
}

func starPoly(points int, outer, inner float64) [][2]float64 {
	out := make([][2]float64, 2*points)
	for k := range out {
		rad := outer
		if k%2 == 1 {
			rad = inner
		}
		a := -math.Pi/2 + math.Pi*float64(k)/float64(points)
		out[k] = [2]float64{rad * math.Cos(a), rad * math.Sin(a)}
	}
	return out
}

// inPoly is the even-odd rule.
func inPoly(poly [][2]float64, x, y float64) bool {
	in := false
	j := len(poly) - 1
	for i := range poly {
		xi, yi, xj, yj := poly[i][0], poly[i][1], poly[j][0], poly[j][1]
		if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
			in = !in
		}
		j = i
	}
	return in
}

// inside reports whether the unit-coordinate point (u, v) is inside a
// shape of the class.
func inside(class int, u, v float64) bool {
	switch Classes[class] {
	case "circle":
		return u*u+v*v <= 0.9*0.9
	case "square":
		return math.Abs(u) <= 0.68 && math.Abs(v) <= 0.68
	case "triangle":
		return inPoly(triangle, u, v)
	case "star":
		return inPoly(star, u, v)
	case "cross":
		au, av := math.Abs(u), math.Abs(v)
		return (au <= 0.9 && av <= 0.3) || (au <= 0.3 && av <= 0.9)
	case "ring":
		d := u*u + v*v
		return d <= 0.92*0.92 && d >= 0.5*0.5
	case "heart":
		// (x²+y²−1)³ − x²y³ ≤ 0 with y up, scaled into the unit circle.
		x, y := u*1.33, -v*1.33+0.14
		q := x*x + y*y - 1
		return q*q*q-x*x*y*y*y <= 0
	case "arrow":
		return inPoly(arrow, u, v)
	}
	return false
}

// Generate draws the scene of a seed at the given size (pixels per side).
func Generate(seed int64, size int) *Scene {
	r := rand.New(rand.NewPCG(uint64(seed), 0x7368617065730a))
	s := &Scene{Seed: seed, Size: size, Pix: make([]uint8, size*size*3), Mask: make([]uint8, size*size)}
	img := make([]rgb, size*size)
	s.Background = background(r, img, size)
	scale := float64(size) / DefaultSize

	// Objects: the main one first (placed anywhere), then up to two small
	// ones that keep clear of the others.
	k := 1
	switch p := r.Float64(); {
	case p < 0.4:
		k = 2
	case p < 0.65:
		k = 3
	}
	perm := r.Perm(len(Classes))
	var objs []Object
	for i := 0; i < k; i++ {
		rad := (6 + 2*r.Float64()) * scale
		if i == 0 {
			rad = (14 + 6*r.Float64()) * scale
		}
		placed := false
		for try := 0; try < 100 && !placed; try++ {
			x := rad + 1 + (float64(size)-2*rad-2)*r.Float64()
			y := rad + 1 + (float64(size)-2*rad-2)*r.Float64()
			ok := true
			for _, o := range objs {
				dx, dy := o.X-x, o.Y-y
				if dx*dx+dy*dy < (o.R+rad+2*scale)*(o.R+rad+2*scale) {
					ok = false
					break
				}
			}
			if ok {
				objs = append(objs, Object{Class: perm[i], X: x, Y: y, R: rad, Angle: 2 * math.Pi * r.Float64()})
				placed = true
			}
		}
	}
	// Shuffle the list so that the main object's index varies.
	order := r.Perm(len(objs))
	s.Objects = make([]Object, len(objs))
	for i, j := range order {
		s.Objects[j] = objs[i]
		if i == 0 {
			s.LabelObject = j
		}
	}
	s.Label = s.Objects[s.LabelObject].Class

	for idx := range s.Objects {
		o := &s.Objects[idx]
		col := objectColor(r, img, size, o)
		o.Color = [3]uint8{quant(col[0]), quant(col[1]), quant(col[2])}
		draw(img, s.Mask, size, o, col, uint8(idx+1))
	}

	// Sensor noise: triangular, amplitude up to 0.08.
	amp := 0.08 * r.Float64()
	for i, c := range img {
		for ch := 0; ch < 3; ch++ {
			v := c[ch] + amp*(r.Float64()-r.Float64())
			s.Pix[3*i+ch] = quant(v)
		}
	}
	return s
}

func quant(v float64) uint8 { return uint8(clamp01(v)*255 + 0.5) }

// objectColor picks a colour that stands out from the background under the
// object (luminance difference at least 0.25, else black or white).
func objectColor(r *rand.Rand, img []rgb, size int, o *Object) rgb {
	var mean float64
	cnt := 0
	x0, x1, y0, y1 := bbox(o, size)
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			mean += img[y*size+x].lum()
			cnt++
		}
	}
	mean /= float64(max(cnt, 1))
	for try := 0; try < 30; try++ {
		c := hsv(r.Float64(), 0.3+0.7*r.Float64(), 0.1+0.9*r.Float64())
		if math.Abs(c.lum()-mean) >= 0.25 {
			return c
		}
	}
	if mean > 0.5 {
		return rgb{0.05, 0.05, 0.05}
	}
	return rgb{0.95, 0.95, 0.95}
}

func bbox(o *Object, size int) (x0, x1, y0, y1 int) {
	x0 = max(0, int(math.Floor(o.X-o.R-1)))
	x1 = min(size-1, int(math.Ceil(o.X+o.R+1)))
	y0 = max(0, int(math.Floor(o.Y-o.R-1)))
	y1 = min(size-1, int(math.Ceil(o.Y+o.R+1)))
	return
}

// draw blends an object into img with 4×4 supersampling; pixels at least
// half covered get the object's mask value.
func draw(img []rgb, mask []uint8, size int, o *Object, col rgb, id uint8) {
	const ss = 4
	cos, sin := math.Cos(o.Angle), math.Sin(o.Angle)
	x0, x1, y0, y1 := bbox(o, size)
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			hit := 0
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					px := float64(x) + (float64(sx)+0.5)/ss - o.X
					py := float64(y) + (float64(sy)+0.5)/ss - o.Y
					// rotate by −Angle into the object's frame
					u := (px*cos + py*sin) / o.R
					v := (-px*sin + py*cos) / o.R
					if inside(o.Class, u, v) {
						hit++
					}
				}
			}
			if hit == 0 {
				continue
			}
			cov := float64(hit) / (ss * ss)
			img[y*size+x] = lerp(img[y*size+x], col, cov)
			if 2*hit >= ss*ss {
				mask[y*size+x] = id
			}
		}
	}
}
