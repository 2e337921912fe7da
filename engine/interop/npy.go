package interop

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	gt "gorgonia.org/tensor"

	"github.com/cnnlens/cnnlens/engine/tensor"
)

// Errors that ReadNpy wraps (test them with errors.Is).
var (
	// ErrNotNpy: the data is not a .npy file, or its header is malformed.
	ErrNotNpy = errors.New("not a .npy file")
	// ErrFortranOrder: the array is stored in column-major (Fortran) order.
	ErrFortranOrder = errors.New("Fortran-order array")
	// ErrDtype: an element type that ReadNpy cannot read.
	ErrDtype = errors.New("unsupported dtype")
	// ErrVersion: a .npy format version other than 1.0.
	ErrVersion = errors.New("unsupported .npy format version")
)

const npyMagic = "\x93NUMPY"

// npyTypes are the element types that ReadNpy reads, by the type code of
// the .npy header (after its byte-order character): float32 as it is, the
// others converted to float32.
var npyTypes = map[string]string{
	"f4": "float32", "f8": "float64",
	"i1": "int8", "i2": "int16", "i4": "int32",
	"u1": "uint8", "u2": "uint16", "u4": "uint32",
}

// npyRefused are element types that gorgonia.org/tensor v0.9.24 recognises
// but does not read correctly, with the reason.
var npyRefused = map[string]string{
	"i8": "gorgonia.org/tensor reads int64 .npy data into Go int and fails to decode it",
	"u8": "gorgonia.org/tensor reads uint64 .npy data into Go uint and fails to decode it",
	"b1": "gorgonia.org/tensor leaves the values of bool arrays unread",
}

// npyHeader is what ReadNpy uses of a .npy header.
type npyHeader struct {
	descr string // e.g. "<f4"
	name  string // NumPy's name of the dtype, e.g. "float32"
	item  int    // bytes per element
	shape []int
}

// ReadNpy reads one array in NumPy's .npy format (version 1.0, as
// numpy.save writes it) and returns it as a float32 tensor of the array's
// shape: a rank-0 array gives a scalar, an array with a dimension of 0 a
// tensor without elements. float32 data is read as it is; float64, int8,
// int16, int32, uint8, uint16 and uint32 are converted to float32. The
// data is decoded by gorgonia.org/tensor's (*Dense).ReadNpy.
//
// Errors name the problem and wrap ErrNotNpy, ErrVersion, ErrFortranOrder
// or ErrDtype where one applies: Fortran-order arrays (save
// np.ascontiguousarray(a) instead), big-endian data, and the dtypes that
// gorgonia.org/tensor v0.9.24 cannot read (int64, uint64, bool, float16,
// complex, strings, structured) are refused, never misread. A file that
// ends inside the data is an error wrapping io.ErrUnexpectedEOF. ReadNpy
// reads r up to the end of the array and no further.
func ReadNpy(r io.Reader) (*tensor.T, error) {
	prefix, h, err := readNpyHeader(r)
	if err != nil {
		return nil, err
	}
	if tensor.Size(h.shape) == 0 {
		// gorgonia.org/tensor cannot hold an array without elements; there
		// is no data to read.
		return tensor.New(h.shape...), nil
	}
	n := int64(tensor.Size(h.shape)) * int64(h.item)
	data := bufio.NewReaderSize(io.LimitReader(r, n), 1<<16)
	d := new(gt.Dense)
	if err := d.ReadNpy(io.MultiReader(bytes.NewReader(prefix), data)); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("npy: the file ends inside the data (%d bytes of %s for shape %s): %w",
				n, h.name, npyShape(h.shape), io.ErrUnexpectedEOF)
		}
		return nil, fmt.Errorf("npy: reading %s data of shape %s: %w", h.name, npyShape(h.shape), err)
	}
	if got := []int(d.Shape()); !tensor.SameShape(got, h.shape) {
		return nil, fmt.Errorf("npy: gorgonia.org/tensor read shape %v, the header says %s", d.Shape(), npyShape(h.shape))
	}
	t, err := FromDense(d)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	return t, nil
}

// readNpyHeader reads and checks the magic string, the version and the
// header, and returns the bytes read (for gorgonia's ReadNpy, which reads
// them again) with what the header says.
func readNpyHeader(r io.Reader) ([]byte, *npyHeader, error) {
	pre := make([]byte, 10)
	n, err := io.ReadFull(r, pre)
	switch {
	case n < len(npyMagic):
		return nil, nil, fmt.Errorf("npy: %w (%d bytes, no \\x93NUMPY magic string)", ErrNotNpy, n)
	case string(pre[:len(npyMagic)]) != npyMagic:
		return nil, nil, fmt.Errorf("npy: %w (it starts with %q, not \\x93NUMPY)", ErrNotNpy, pre[:len(npyMagic)])
	case err != nil:
		return nil, nil, fmt.Errorf("npy: %w: the file ends inside its preamble: %w", ErrNotNpy, io.ErrUnexpectedEOF)
	}
	if pre[6] != 1 || pre[7] != 0 {
		return nil, nil, fmt.Errorf("npy: %w %d.%d: gorgonia.org/tensor reads version 1.0, which numpy.save writes unless the header is over 64 KiB or has non-Latin-1 field names", ErrVersion, pre[6], pre[7])
	}
	hlen := int(binary.LittleEndian.Uint16(pre[8:]))
	prefix := make([]byte, 10+hlen)
	copy(prefix, pre)
	if _, err := io.ReadFull(r, prefix[10:]); err != nil {
		return nil, nil, fmt.Errorf("npy: %w: the file ends inside its %d-byte header: %w", ErrNotNpy, hlen, io.ErrUnexpectedEOF)
	}
	h, err := parseNpyHeader(string(prefix[10:]))
	if err != nil {
		return nil, nil, err
	}
	return prefix, h, nil
}

// parseNpyHeader reads the header's Python dict literal, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 32), }.
func parseNpyHeader(s string) (*npyHeader, error) {
	bad := func(what string) error {
		return fmt.Errorf("npy: %w: header %q: %s", ErrNotNpy, strings.TrimSpace(s), what)
	}
	descr, ok := dictValue(s, "descr")
	if !ok {
		return nil, bad("no 'descr'")
	}
	if len(descr) < 2 || (descr[0] != '\'' && descr[0] != '"') {
		return nil, fmt.Errorf("npy: %w: structured dtype %s (ReadNpy reads plain numeric arrays)", ErrDtype, clip(descr))
	}
	end := strings.IndexByte(descr[1:], descr[0])
	if end < 0 {
		return nil, bad("unterminated 'descr'")
	}
	h := &npyHeader{descr: descr[1 : 1+end]}
	fortran, ok := dictValue(s, "fortran_order")
	if !ok {
		return nil, bad("no 'fortran_order'")
	}
	switch {
	case strings.HasPrefix(fortran, "False"):
	case strings.HasPrefix(fortran, "True"):
		return nil, fmt.Errorf("npy: %w (fortran_order: True) cannot be read: gorgonia.org/tensor reads C order only; save np.ascontiguousarray(a) instead", ErrFortranOrder)
	default:
		return nil, bad("'fortran_order' is neither True nor False")
	}
	shape, ok := dictValue(s, "shape")
	if !ok || !strings.HasPrefix(shape, "(") || !strings.Contains(shape, ")") {
		return nil, bad("no 'shape' tuple")
	}
	shape = shape[1:strings.IndexByte(shape, ')')]
	size := 1
	for _, f := range strings.Split(shape, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := strconv.Atoi(strings.TrimSuffix(f, "L"))
		if err != nil || d < 0 {
			return nil, bad(fmt.Sprintf("dimension %q", f))
		}
		if d > 0 && size > math.MaxInt32/d {
			return nil, bad("more than 2^31 elements")
		}
		size *= d
		h.shape = append(h.shape, d)
	}

	if len(h.descr) < 3 {
		return nil, fmt.Errorf("npy: %w %s", ErrDtype, dtypeName(h.descr))
	}
	order, code := h.descr[0], h.descr[1:]
	name, ok := npyTypes[code]
	if !ok {
		reason := "ReadNpy reads float32, float64 and 8-, 16- and 32-bit integers"
		if r, refused := npyRefused[code]; refused {
			reason = r
		}
		return nil, fmt.Errorf("npy: %w %s: %s; save the array as float32 (a.astype(np.float32))", ErrDtype, dtypeName(h.descr), reason)
	}
	h.name = name
	h.item, _ = strconv.Atoi(code[1:])
	switch {
	case order == '<', order == '|' && h.item == 1:
	case order == '>' && h.item > 1:
		return nil, fmt.Errorf("npy: %w: big-endian %s: gorgonia.org/tensor reads little-endian data; save a.astype('<%s') instead", ErrDtype, dtypeName(h.descr), code)
	default:
		return nil, fmt.Errorf("npy: %w %s: byte order %q (ReadNpy reads little-endian data)", ErrDtype, dtypeName(h.descr), order)
	}
	return h, nil
}

// dictValue returns the text after 'key': (or "key":) in a Python dict
// literal, with leading spaces removed.
func dictValue(s, key string) (string, bool) {
	for _, q := range []string{"'", "\""} {
		k := q + key + q
		i := strings.Index(s, k)
		if i < 0 {
			continue
		}
		rest := strings.TrimLeft(s[i+len(k):], " ")
		if !strings.HasPrefix(rest, ":") {
			continue
		}
		return strings.TrimLeft(rest[1:], " "), true
	}
	return "", false
}

// dtypeName names a .npy dtype for messages: "int64 ('<i8')", or the
// descr alone when NumPy's name is not known here.
func dtypeName(descr string) string {
	names := map[string]string{"i8": "int64", "u8": "uint64", "b1": "bool", "f2": "float16", "c8": "complex64", "c16": "complex128"}
	if len(descr) > 1 {
		if n, ok := npyTypes[descr[1:]]; ok {
			return fmt.Sprintf("%s ('%s')", n, descr)
		}
		if n, ok := names[descr[1:]]; ok {
			return fmt.Sprintf("%s ('%s')", n, descr)
		}
	}
	return "'" + descr + "'"
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// npyShape formats a shape as NumPy prints it: (), (5,), (1, 3, 32, 32).
func npyShape(shape []int) string {
	parts := make([]string, len(shape))
	for k, d := range shape {
		parts[k] = strconv.Itoa(d)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// WriteNpy writes t in NumPy's .npy format (version 1.0, C order) with its
// shape: a float32 tensor as '<f4', an int64 tensor as '<i8'; a scalar as a
// rank-0 array. The array is written by gorgonia.org/tensor's
// (*Dense).WriteNpy over the tensor's storage (ToDense: no copy); a tensor
// without elements, which gorgonia cannot hold, is written here as the
// header alone. numpy.load reads the result.
func WriteNpy(w io.Writer, t *tensor.T) error {
	if t == nil {
		return fmt.Errorf("npy: WriteNpy of a nil tensor")
	}
	if t.Len() == 0 {
		descr := "<f4"
		if t.DType() == tensor.Int64 {
			descr = "<i8"
		}
		header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, npyShape(t.Shape()))
		// Pad with spaces and a newline to a multiple of 64 bytes, as
		// numpy.save does.
		total := (10 + len(header) + 1 + 63) / 64 * 64
		header += strings.Repeat(" ", total-10-len(header)-1) + "\n"
		var pre [10]byte
		copy(pre[:], npyMagic)
		pre[6], pre[7] = 1, 0
		binary.LittleEndian.PutUint16(pre[8:], uint16(len(header)))
		if _, err := w.Write(append(pre[:], header...)); err != nil {
			return fmt.Errorf("npy: writing the header of a %s tensor of shape %s: %w", t.DType(), npyShape(t.Shape()), err)
		}
		return nil
	}
	d, err := ToDense(t)
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if err := d.WriteNpy(bw); err != nil {
		return fmt.Errorf("npy: writing a %s tensor of shape %s: %w", t.DType(), npyShape(t.Shape()), err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("npy: writing a %s tensor of shape %s: %w", t.DType(), npyShape(t.Shape()), err)
	}
	return nil
}
