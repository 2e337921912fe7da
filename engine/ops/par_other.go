//go:build !wasm

package ops

import (
	"runtime"
	"sync"
)

// parMinWork is the least work (a rough count of flops or of values moved)
// worth splitting across goroutines: below it, starting them costs more
// than it saves.
const parMinWork = 1 << 17

// parallelFor runs fn over [0, n), natively split into GOMAXPROCS
// contiguous ranges computed by separate goroutines when the work is large
// enough. Callers split along independent outputs (channels, planes, tile
// positions), so every output is computed by the same arithmetic whichever
// goroutine computes it.
func parallelFor(n int, work float64, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers < 2 || work < parMinWork {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		lo, hi := n*i/workers, n*(i+1)/workers
		if lo == hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
