//go:build !amd64 || purego

package kernels

// kernelModes lists the micro-kernels this build can run: its one
// plain-Go kernel.
func kernelModes() []kernelMode {
	return []kernelMode{{name: "go", use: func() func() { return func() {} }}}
}
