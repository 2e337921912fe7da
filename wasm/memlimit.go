package main

import (
	"os"
	"runtime/debug"
)

// pageMemoryLimit is the Go heap's soft limit in the page's engine: a wasm
// module's memory ends at 4 GiB and never shrinks, and the collector, left
// to GOGC alone, lets the heap grow to about twice what is live before it
// collects (a big model's batched methods keep over 1 GB live: engine/cam's
// tests once reached 4.26 GB and stopped, out of memory). Near the limit
// the collector runs more often instead.
const pageMemoryLimit = 3 << 30

// setMemoryLimit sets pageMemoryLimit unless GOMEMLIMIT was given (Node.js
// passes the environment on) and returns the limit in force.
func setMemoryLimit() int64 {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(pageMemoryLimit)
	}
	return debug.SetMemoryLimit(-1)
}
