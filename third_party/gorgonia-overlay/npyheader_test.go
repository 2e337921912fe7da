package main

import (
	"bytes"
	"math/rand"
	"regexp"
	"testing"
)

// The matchers agree with the regular expressions they replace, on NumPy
// headers and on random strings made of the characters that matter.
func TestNpyFieldsMatchRegexps(t *testing.T) {
	res := []struct {
		f  npyField
		re *regexp.Regexp
	}{
		{npyDescRE, regexp.MustCompile(`'descr':\s*'([^']*)'`)},
		{rowOrderRE, regexp.MustCompile(`'fortran_order':\s*(False|True)`)},
		{shapeRE, regexp.MustCompile(`'shape':\s*\(([^\(]*)\)`)},
	}
	inputs := []string{
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
		"{'descr':'<f8','fortran_order':True,'shape':(7,),}      \n",
		"{'descr': \t'|u1', 'fortran_order': \nFalse, 'shape': (), }",
		"'shape': (1, (2), 3) 'shape': (4)", "'descr': 'x 'descr': 'y'", "'fortran_order': Fals 'fortran_order': True",
		"", "'shape':", "'shape': (", "'descr': '", "no header",
	}
	pieces := []string{"'descr':", "'fortran_order':", "'shape':", " ", "\t", "'", "(", ")", "False", "True", "Fa", "<f4", ",", "2", "\v"}
	rng := rand.New(rand.NewSource(1))
	for range 20000 {
		var b bytes.Buffer
		for range rng.Intn(12) {
			b.WriteString(pieces[rng.Intn(len(pieces))])
		}
		inputs = append(inputs, b.String())
	}
	for _, in := range inputs {
		for _, r := range res {
			got, want := r.f.FindSubmatch([]byte(in)), r.re.FindSubmatch([]byte(in))
			if len(got) != len(want) || len(got) == 2 && (!bytes.Equal(got[0], want[0]) || !bytes.Equal(got[1], want[1])) {
				t.Fatalf("%s on %q: got %q, want %q", r.f.key, in, got, want)
			}
		}
	}
}
