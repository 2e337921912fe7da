//go:build !purego

package kernels

// useAVX reports whether the AVX micro-kernel (gemm_kernel_amd64.s) runs;
// when false, its plain-Go twin does. Tests switch it to check one against
// the other.
var useAVX = cpuAVX() && (!kernelFMA || cpuFMA())

// useAVX512 reports whether the AVX-512 kernel (tilesAVX512) runs instead
// of the AVX one (only while useAVX is true too).
var useAVX512 = useAVX && cpuAVX512()

// cpuid executes CPUID with EAX = leaf and ECX = sub (cpu_amd64.s).
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// xgetbv returns the low 32 bits of XCR0 (cpu_amd64.s); only call it when
// CPUID reports OSXSAVE.
func xgetbv() uint32

// CPUID leaf 1, ECX bits.
const (
	cpuidFMA     = 1 << 12
	cpuidOSXSAVE = 1 << 27
	cpuidAVX     = 1 << 28
)

// cpuAVX reports whether the CPU has AVX and the operating system saves
// the YMM registers on a context switch (XCR0 bits 1 and 2).
func cpuAVX() bool {
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 1 {
		return false
	}
	_, _, ecx, _ := cpuid(1, 0)
	if ecx&(cpuidOSXSAVE|cpuidAVX) != cpuidOSXSAVE|cpuidAVX {
		return false
	}
	return xgetbv()&6 == 6
}

// cpuFMA reports whether the CPU has FMA3 (usable when cpuAVX is true).
func cpuFMA() bool {
	_, _, ecx, _ := cpuid(1, 0)
	return ecx&cpuidFMA != 0
}

// cpuAVX512 reports whether the CPU has AVX-512F and the operating system
// saves the ZMM registers and opmasks (XCR0 bits 1, 2 and 5–7).
func cpuAVX512() bool {
	if !cpuAVX() {
		return false
	}
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 7 {
		return false
	}
	_, ebx, _, _ := cpuid(7, 0)
	return ebx&(1<<16) != 0 && xgetbv()&0xe6 == 0xe6
}
