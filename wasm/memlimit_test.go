package main

import (
	"runtime/debug"
	"testing"
)

// The page's engine keeps its heap under a soft limit below wasm's 4 GiB,
// unless GOMEMLIMIT says otherwise.
func TestSetMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	t.Setenv("GOMEMLIMIT", "")
	if got := setMemoryLimit(); got != pageMemoryLimit || got >= 4<<30 {
		t.Errorf("limit %d, want %d (under wasm's 4 GiB)", got, pageMemoryLimit)
	}
	debug.SetMemoryLimit(1 << 40)
	t.Setenv("GOMEMLIMIT", "1TiB")
	if got := setMemoryLimit(); got != 1<<40 {
		t.Errorf("with GOMEMLIMIT set: limit %d, want the one in force (%d)", got, int64(1<<40))
	}
}
