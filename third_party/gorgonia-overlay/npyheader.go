// This file is also written into the copy of gorgonia.org/tensor (as
// package tensor): it matches NumPy header fields the way gorgonia's three
// regular expressions did, without linking package regexp.

package main

// npyField matches key, optional whitespace and a value, like the regular
// expression key\s*VALUE; FindSubmatch returns the whole match and the
// value's group, or nil, as regexp.Regexp.FindSubmatch does.
type npyField struct {
	key   string
	value func(b []byte) (gs, g, end int) // at b's start: the group's start and length, the match's end (-1: no match)
}

var (
	npyDescRE  = npyField{"'descr':", quotedValue}       // '([^']*)'
	rowOrderRE = npyField{"'fortran_order':", boolValue} // (False|True)
	shapeRE    = npyField{"'shape':", tupleValue}        // \(([^\(]*)\)
)

func (f npyField) FindSubmatch(b []byte) [][]byte {
	for start := 0; start+len(f.key) <= len(b); start++ {
		if string(b[start:start+len(f.key)]) != f.key {
			continue
		}
		i := start + len(f.key)
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\f' || b[i] == '\r') {
			i++
		}
		gs, g, end := f.value(b[i:])
		if end < 0 {
			continue
		}
		return [][]byte{b[start : i+end], b[i+gs : i+gs+g]}
	}
	return nil
}

// quotedValue: '([^']*)'.
func quotedValue(b []byte) (gs, g, end int) {
	if len(b) == 0 || b[0] != '\'' {
		return 0, 0, -1
	}
	for i := 1; i < len(b); i++ {
		if b[i] == '\'' {
			return 1, i - 1, i + 1
		}
	}
	return 0, 0, -1
}

// boolValue: (False|True).
func boolValue(b []byte) (gs, g, end int) {
	for _, w := range []string{"False", "True"} {
		if len(b) >= len(w) && string(b[:len(w)]) == w {
			return 0, len(w), len(w)
		}
	}
	return 0, 0, -1
}

// tupleValue: \(([^\(]*)\), the group running to the last ')' before the
// next '(' (the star is greedy).
func tupleValue(b []byte) (gs, g, end int) {
	if len(b) == 0 || b[0] != '(' {
		return 0, 0, -1
	}
	last := -1
	for i := 1; i < len(b) && b[i] != '('; i++ {
		if b[i] == ')' {
			last = i
		}
	}
	if last < 0 {
		return 0, 0, -1
	}
	return 1, last - 1, last + 1
}
