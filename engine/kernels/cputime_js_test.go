//go:build js

package kernels

import "syscall/js"

// processCPUSeconds returns the CPU time used by the process so far, or a
// negative value when unavailable (browsers have no process object).
func processCPUSeconds() float64 {
	proc := js.Global().Get("process")
	if proc.IsUndefined() || proc.Get("cpuUsage").IsUndefined() {
		return -1
	}
	u := proc.Call("cpuUsage")
	return (u.Get("user").Float() + u.Get("system").Float()) / 1e6
}
