// Package kind gives an error a kind, a sentinel error that errors.Is
// finds, without changing its text: the engine's packages mark the errors
// a caller may want to tell apart (not an image, an unsupported operator,
// an unknown layer, …) while keeping their messages as they are.
package kind

import "fmt"

// Errorf is fmt.Errorf(format, args...) marked with k: its text is the
// formatted message, and errors.Is matches both k and whatever the
// message wraps with %w.
func Errorf(k error, format string, args ...any) error {
	return Mark(k, fmt.Errorf(format, args...))
}

// Mark returns err marked with k (nil for a nil err).
func Mark(k, err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, kind: k}
}

type marked struct{ err, kind error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.err, m.kind} }
