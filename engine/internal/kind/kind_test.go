package kind

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestMark(t *testing.T) {
	errA := errors.New("kind a")
	err := Errorf(errA, "reading %s: %w", "x", io.ErrUnexpectedEOF)
	if err.Error() != "reading x: unexpected EOF" {
		t.Errorf("text %q", err)
	}
	if !errors.Is(err, errA) || !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		t.Errorf("errors.Is: kind %v, cause %v, other %v", errors.Is(err, errA), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF))
	}
	wrapped := fmt.Errorf("outer: %w", err)
	if !errors.Is(wrapped, errA) || wrapped.Error() != "outer: reading x: unexpected EOF" {
		t.Errorf("wrapped: %q", wrapped)
	}
	if Mark(errA, nil) != nil {
		t.Errorf("Mark of nil is not nil")
	}
}
