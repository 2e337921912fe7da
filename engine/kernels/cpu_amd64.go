//go:build !purego

package kernels

// useAVX2 reports whether the AVX2+FMA micro-kernel (gemm_kernel_amd64.s)
// runs; when false, its plain-Go twin does. Tests switch it to check one
// against the other.
var useAVX2 = hasAVX2FMA()

// cpuid executes CPUID with EAX = leaf and ECX = sub (cpu_amd64.s).
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// xgetbv returns the low 32 bits of XCR0 (cpu_amd64.s); only call it when
// CPUID reports OSXSAVE.
func xgetbv() uint32

// hasAVX2FMA reports whether the CPU has AVX2 and FMA and the operating
// system saves the YMM registers on a context switch (XCR0 bits 1 and 2).
func hasAVX2FMA() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
	)
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	if xgetbv()&6 != 6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2 = 1 << 5
	return ebx7&avx2 != 0
}
