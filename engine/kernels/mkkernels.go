//go:build ignore

// mkkernels generates gemm_kernel_wasm.go (with the wasm assembly of its
// k loop, gemm_kernel_wasm.s), gemm_kernel_wasm_purego.go (the same in plain
// Go, for -tags purego), gemm_kernel_amd64.go (with the AVX assembly
// of its full tiles, gemm_kernel_amd64.s, and its plain-Go twin) and
// gemm_kernel_other.go (plain Go: other targets, and amd64 with -tags
// purego): the GEMM micro-kernels and
// the row-interleaving pack helpers, fully unrolled for each target's
// register block. Run it with `go generate` in this
// directory after changing a block shape, then re-measure (see gemm.go).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// target describes one generated file.
type target struct {
	file      string
	tag       string
	mr, nr    int    // register block
	unroll    int    // k-steps per loop iteration (Go kernels; the assembly steps one)
	aInner    bool   // load the B row first, then one A value at a time
	asm       string // if set: the k loop is written in wasm assembly, to this file
	asmUnroll int    // k-steps per iteration of the assembly k loop
	blockDoc  string // comment on the constants
	avx       string // if set: an AVX assembly kernel (amd64), to this file, with a plain-Go twin
	fma       bool   // the AVX kernel uses VFMADD231PS (one rounding per multiply-add; needs FMA3)
}

var targets = []target{
	{
		file: "gemm_kernel_wasm.go", tag: "wasm && !purego", mr: 3, nr: 3, asm: "gemm_kernel_wasm.s",
		blockDoc: `// Register block of the wasm micro-kernel: 3 rows of A × 3 columns of B.
//
// The k loop is wasm assembly (gemm_kernel_wasm.s). Go's wasm backend
// turns every loop back-edge into a jump through the function's dispatch
// table (br_table), at which V8 moves every live value to a fixed place,
// and computes each address with a 64-bit add and a wrap; the assembly is
// a plain wasm loop with constant load offsets, one k-step per iteration.
// V8 has 15 usable xmm registers: the accumulators, one k-step of B and
// one A value must fit, or accumulators live in memory and each iteration
// waits on a store-to-load round trip. Measured under Node (kc 192, the
// kernel alone): 4×3 (16 registers) 5.0–5.7 GFLOP/s; 3×3, 2×4 and 5×2
// (13 registers) 4.9–8.1, median 6.7; unrolling k ×2 was slower for every
// shape (V8 then loads both k-steps before the arithmetic and spills). In
// the whole GEMM 3×3, 2×4 and 4×2 were equal within the machine's noise;
// 3×3 loads the fewest values per multiply-add. The plain-Go kernel
// (gemm_kernel_wasm_purego.go, built with -tags purego) runs at 3.7–5.7.
//
// tiles (also assembly) walks all full tiles of a packed block, calling
// accumulate for each with a plain wasm call and updating C itself,
// instead of a Go call to microKernel per tile (slice checks, a copy of
// the sums): the conv GEMMs ran 0.90–1.32× as fast per run in 14 runs
// alternating with the Go version, median 1.08×, and 5.3–7.4 GFLOP/s,
// median 6.2, over 30 runs. (The k loop inlined into tiles was a third
// slower: V8 then loads all of a k-step's A values first and keeps an
// accumulator in memory.)`,
	},
	{
		file: "gemm_kernel_wasm_purego.go", tag: "wasm && purego", mr: 4, nr: 3, unroll: 3, aInner: true,
		blockDoc: `// Register block of the plain-Go wasm micro-kernel (-tags purego; the
// default is the assembly loop of gemm_kernel_wasm.s): 4 rows of A × 3
// columns of B.
//
// Go's wasm backend has 16 float32 "registers" (wasm locals), V8 maps them
// onto 15 usable xmm registers and schedules all loads of a basic block
// before its arithmetic, so loaded operands and accumulators compete for
// registers. A 4×3 block (12 accumulators) with the k loop unrolled ×3 was
// the fastest shape measured under Node (2×4, 3×4, 4×4, 2×6, 3×3, 5×3 and
// unroll factors 1–16 were all slower).`,
	},
	{
		file: "gemm_kernel_amd64.go", tag: "amd64 && !purego", mr: 6, nr: 16, unroll: 4, avx: "gemm_kernel_amd64.s",
		blockDoc: amd64BlockDoc,
	},
	{
		file: "gemm_kernel_other.go", tag: "!wasm && (!amd64 || purego)", mr: 2, nr: 4, unroll: 4,
		blockDoc: `// Register block of the native micro-kernel: 2 rows of A × 4 columns of B.
//
// Natively the Go compiler keeps the 8 accumulators and 6 operands in the
// 16 SSE registers without spilling; 2×4 with the k loop unrolled ×4 was
// the fastest shape measured on amd64 (4×3, 3×4, 3×3, 2×6, 1×8 were slower).`,
	},
}

func main() {
	dir := flag.String("dir", ".", "folder to write the files to")
	flag.Parse()
	for _, t := range targets {
		if t.asm != "" {
			if err := os.WriteFile(filepath.Join(*dir, t.asm), t.assembly(), 0o644); err != nil {
				log.Fatal(err)
			}
		}
		if t.avx != "" {
			if err := os.WriteFile(filepath.Join(*dir, t.avx), t.avxAssembly(), 0o644); err != nil {
				log.Fatal(err)
			}
		}
		var b bytes.Buffer
		t.write(&b)
		src, err := format.Source(b.Bytes())
		if err != nil {
			log.Fatalf("%s: %v\n%s", t.file, err, b.Bytes())
		}
		if err := os.WriteFile(filepath.Join(*dir, t.file), src, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func (t target) write(b *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	p("// Code generated by mkkernels.go; DO NOT EDIT.")
	p("")
	p("//go:build %s", t.tag)
	p("")
	p("package kernels")
	p("")
	p("%s", t.blockDoc)
	p("const (")
	p("gemmMR = %d", t.mr)
	p("gemmNR = %d", t.nr)
	p(")")
	p("")
	p("// aRow is one k-step of a packed A micro-panel (gemmMR values of one column")
	p("// of op(A)); bRow is one k-step of a packed B micro-panel.")
	p("type (")
	p("aRow = [gemmMR]float32")
	p("bRow = [gemmNR]float32")
	p(")")
	p("")
	if t.avx != "" {
		t.writeAVXKernel(b)
	} else {
		t.writeKernel(b)
	}
	p("")
	direct := t.avx != ""
	writeRows(b, "packRowsA", "aRow", t.mr, "a full A panel from gemmMR rows of A (op(A) = A).", direct)
	p("")
	writeRows(b, "packRowsB", "bRow", t.nr, "a full B panel from gemmNR rows of B (op(B) = Bᵀ).", direct)
}

func (t target) writeKernel(b *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	M, N, U := t.mr, t.nr, t.unroll
	var accs []string
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			accs = append(accs, fmt.Sprintf("c%d%d", i, j))
		}
	}
	if t.asm != "" {
		p("// accumulate sets acc[r·gemmNR+j] = Σ_p ap[p][r]·bp[p][j] over kc k-steps,")
		p("// each sum in order of p (%s).", t.asm)
		p("//")
		p("//go:noescape")
		p("func accumulate(kc int, ap *aRow, bp *bRow, acc *[gemmMR * gemmNR]float32)")
		p("")
		p("// microKernel computes the gemmMR×gemmNR block")
		p("//")
		p("//	C = alpha·Σ_p ap[p]ᵀ·bp[p] + beta·C   (C row-major with stride ldc)")
		p("//")
		p("// over 1 ≤ kc ≤ kcMax steps; ap and bp must hold at least kc entries.")
		p("// beta == 0 means C is not read.")
		p("func microKernel(kc int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) {")
		p("var acc [gemmMR * gemmNR]float32")
		p("_, _ = ap[kc-1], bp[kc-1]")
		p("accumulate(kc, &ap[0], &bp[0], &acc)")
		p("%s := %s", strings.Join(accs, ", "), listIdx("acc", M*N))
		t.writeStore(b)
		p("")
		p("// tiles is fullTiles after its bounds checks (%s): the loops over", t.asm)
		p("// the panels, the k loop and the update of C, in one function.")
		p("//")
		p("//go:noescape")
		p("func tiles(kc, npanA, npanB int, ap *aRow, bp *bRow, c *float32, ldc int, alpha, beta float32)")
		p("")
		p("// fullTiles computes C = alpha·A·B + beta·C on the top-left")
		p("// npanA·gemmMR × npanB·gemmNR block of C (row-major, stride ldc) from")
		p("// npanA packed A micro-panels and npanB packed B micro-panels of kc ≥ 1")
		p("// k-steps each (panel q at ap[q·kc:], bp[q·kc:]). Tile by tile it is")
		p("// microKernel, with the same sums in the same order, without a call per")
		p("// tile.")
		p("func fullTiles(kc, npanA, npanB int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) {")
		p("if npanA == 0 || npanB == 0 {")
		p("return")
		p("}")
		p("_ = ap[npanA*kc-1]")
		p("_ = bp[npanB*kc-1]")
		p("_ = c[(npanA*gemmMR-1)*ldc+npanB*gemmNR-1]")
		p("tiles(kc, npanA, npanB, &ap[0], &bp[0], &c[0], ldc, alpha, beta)")
		p("}")
		t.writeEdgeColumns(b)
		return
	}
	p("// microKernel computes the gemmMR×gemmNR block")
	p("//")
	p("//	C = alpha·Σ_p ap[p]ᵀ·bp[p] + beta·C   (C row-major with stride ldc)")
	p("//")
	p("// over kc ≤ kcMax steps. ap and bp must have at least kcMax+panelPad")
	p("// entries (the pack buffers guarantee it). beta == 0 means C is not read.")
	p("//")
	p("// The block of C lives in local variables. The k-step index is a uint8,")
	p("// which lets the compiler prove every access in bounds, and the loops are")
	p("// bottom-tested, so each loop body (with the accumulator phis) is a single")
	p("// basic block: Go's scheduler then keeps every multiply next to its add")
	p("// and no accumulator is spilled.")
	p("func microKernel(kc int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) {")
	p("var %s float32", strings.Join(accs, ", "))
	p("pa := (*[kcMax + panelPad]aRow)(ap)")
	p("pb := (*[kcMax + panelPad]bRow)(bp)")
	p("var p uint8")
	loop := func(steps int, cond, inc string) {
		p("if n := %s; n > 0 {", cond)
		p("for {")
		p("qa, qb := (*[%d]aRow)(pa[p:int(p)+%d]), (*[%d]bRow)(pb[p:int(p)+%d])", steps, steps, steps, steps)
		for u := 0; u < steps; u++ {
			p("{")
			p("ra, rb := &qa[%d], &qb[%d]", u, u)
			if t.aInner {
				p("%s := %s", list("b%d", N), listIdx("rb", N))
				for i := 0; i < M; i++ {
					p("a%d := ra[%d]", i, i)
					for j := 0; j < N; j++ {
						p("c%d%d += a%d * b%d", i, j, i, j)
					}
				}
			} else {
				p("%s := %s", list("a%d", M), listIdx("ra", M))
				for j := 0; j < N; j++ {
					p("b%d := rb[%d]", j, j)
					for i := 0; i < M; i++ {
						p("c%d%d += a%d * b%d", i, j, i, j)
					}
				}
			}
			p("}")
		}
		p("%s", inc)
		p("n--")
		p("if n == 0 {")
		p("break")
		p("}")
		p("}")
		p("}")
	}
	loop(U, fmt.Sprintf("kc / %d", U), fmt.Sprintf("p += %d", U))
	loop(1, fmt.Sprintf("kc %% %d", U), "p++")
	t.writeStore(b)
}

// writeEdgeColumns emits the wasm assembly kernel's edge columns: a B
// panel with fewer than gemmNR valid columns (the rest padding) takes
// accumulateColsN, which multiplies by the valid columns only, instead of
// a full tile per A panel (for a 7×7 plane's 16 Winograd tiles, a sixth
// of the multiplications were padding).
func (t target) writeEdgeColumns(b *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	// declare emits the declarations of the k loops accumulate<suffix>1…
	// of the edges of 1…n-1 valid columns of the B panel or rows of the A
	// panel, and returns their names.
	declare := func(suffix, kind, panel, index string, n int) []string {
		var names []string
		for k := 1; k < n; k++ {
			name := fmt.Sprintf("accumulate%s%d", suffix, k)
			names = append(names, name)
			p("")
			p("// %s is accumulate for the first %d %s(s) of the %s panel: it", name, k, kind, panel)
			p("// sets acc[r·gemmNR+j] for %s < %d, each sum in order of p (%s).", index, k, t.asm)
			p("//")
			p("//go:noescape")
			p("func %s(kc int, ap *aRow, bp *bRow, acc *[gemmMR * gemmNR]float32)", name)
		}
		return names
	}
	names := declare("Cols", "column", "B", "j", t.nr)
	rowNames := declare("Rows", "row", "A", "r", t.mr)
	p("")
	p("// edgeRowsAccumulate[rows-1] is the k loop of an edge of rows rows.")
	p("var edgeRowsAccumulate = [gemmMR - 1]func(kc int, ap *aRow, bp *bRow, acc *[gemmMR * gemmNR]float32){%s}", strings.Join(rowNames, ", "))
	p("")
	p("// edgeAccumulate[cols-1] is the k loop of an edge of cols columns.")
	p("var edgeAccumulate = [gemmNR - 1]func(kc int, ap *aRow, bp *bRow, acc *[gemmMR * gemmNR]float32){%s}", strings.Join(names, ", "))
	p("")
	p("// edgeColumns computes the columns of C of a B panel with cols < gemmNR")
	p("// valid columns, A panel by A panel, with the same sums as the tiles'")
	p("// (the padding columns are not multiplied); it reports whether it did.")
	p("func edgeColumns(kc, npanA, rows, cols int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) bool {")
	p("if cols >= gemmNR {")
	p("return false")
	p("}")
	p("_, _ = ap[npanA*kc-1], bp[kc-1]")
	p("acc := edgeAccumulate[cols-1]")
	p("var sums [gemmMR * gemmNR]float32")
	p("for q := 0; q < npanA; q++ {")
	p("acc(kc, &ap[q*kc], &bp[0], &sums)")
	p("for r := 0; r < gemmMR; r++ {")
	p("i := q*gemmMR + r")
	p("if i >= rows {")
	p("break")
	p("}")
	p("crow := c[i*ldc:][:cols]")
	p("for j := range crow {")
	p("v := sums[r*gemmNR+j]")
	p("if beta == 0 {")
	p("crow[j] = alpha * v")
	p("} else {")
	p("crow[j] = alpha*v + beta*crow[j]")
	p("}")
	p("}")
	p("}")
	p("}")
	p("return true")
	p("}")
	p("")
	p("// edgeKernel sets tmp's first rows rows to the sums of an edge tile (the")
	p("// A panel's valid rows; narrow B panels are edgeColumns' business), with")
	p("// the same sums as a full tile's.")
	p("func edgeKernel(kc int, ap []aRow, bp []bRow, tmp *[gemmMR * gemmNR]float32, rows, cols int) {")
	p("_, _ = ap[kc-1], bp[kc-1]")
	p("if rows < gemmMR {")
	p("edgeRowsAccumulate[rows-1](kc, &ap[0], &bp[0], tmp)")
	p("return")
	p("}")
	p("accumulate(kc, &ap[0], &bp[0], tmp)")
	p("}")
}

// writeStore emits the end of microKernel: C = alpha·c + beta·C from the
// accumulators c00….
func (t target) writeStore(b *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	M, N := t.mr, t.nr
	for i := 0; i < M; i++ {
		if i == 0 {
			p("r0 := c[:%d]", N)
		} else {
			p("r%d := c[%d*ldc : %d*ldc+%d]", i, i, i, N)
		}
	}
	p("if beta == 0 {")
	for i := 0; i < M; i++ {
		var l, r []string
		for j := 0; j < N; j++ {
			l = append(l, fmt.Sprintf("r%d[%d]", i, j))
			r = append(r, fmt.Sprintf("alpha*c%d%d", i, j))
		}
		p("%s = %s", strings.Join(l, ", "), strings.Join(r, ", "))
	}
	p("} else {")
	for i := 0; i < M; i++ {
		var l, r []string
		for j := 0; j < N; j++ {
			l = append(l, fmt.Sprintf("r%d[%d]", i, j))
			r = append(r, fmt.Sprintf("alpha*c%d%d+beta*r%d[%d]", i, j, i, j))
		}
		p("%s = %s", strings.Join(l, ", "), strings.Join(r, ", "))
	}
	p("}")
	p("}")
}

// assembly returns the wasm assembly of accumulate and tiles. In
// accumulate: accumulators in F0…, one k-step of B in the next gemmNR float
// registers, the current A value in the one after; R0, R1 walk the A and B
// panels, R2 is kc, R4 the end of the B panel.
func (t target) assembly() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	M, N := t.mr, t.nr
	bReg, aReg := M*N, M*N+N
	if aReg > 15 {
		log.Fatalf("%s: a %d×%d block needs %d float registers, wasm assembly has 16", t.asm, M, N, aReg+1)
	}
	// kloop emits the k loop over the R2 ≥ 0 k-steps of the panels at R0
	// and R1, one step per iteration, until R1 reaches R4, the end of B's
	// panel. (Unrolled ×2, V8 loads both steps'
	// values before any arithmetic and keeps six accumulators in memory.)
	kloop := func(rows, cols int) {
		p("\tGet R1\n\tGet R2\n\tI64Const $%d\n\tI64Mul\n\tI64Add\n\tSet R4", 4*N)
		p("\tGet R2")
		p("\tI64Eqz")
		p("\tI32Eqz")
		p("\tIf")
		p("\tLoop")
		for j := 0; j < cols; j++ {
			p("\tGet R1\n\tI32WrapI64\n\tF32Load $%d\n\tSet F%d", 4*j, bReg+j)
		}
		for i := 0; i < rows; i++ {
			p("\tGet R0\n\tI32WrapI64\n\tF32Load $%d\n\tSet F%d", 4*i, aReg)
			for j := 0; j < cols; j++ {
				acc := i*N + j
				p("\tGet F%d\n\tGet F%d\n\tGet F%d\n\tF32Mul\n\tF32Add\n\tSet F%d", acc, aReg, bReg+j, acc)
			}
		}
		p("\tGet R0\n\tI64Const $%d\n\tI64Add\n\tSet R0", 4*M)
		p("\tGet R1\n\tI64Const $%d\n\tI64Add\n\tTee R1", 4*N)
		p("\tGet R4")
		p("\tI64Ne")
		p("\tBrIf $0")
		p("\tEnd")
		p("\tEnd")
	}
	p("// Code generated by mkkernels.go; DO NOT EDIT.")
	p("")
	p("//go:build !purego")
	p("")
	p("#include \"textflag.h\"")
	p("")
	// accumulate, accumulateCols1… for the first 1… columns of a B panel
	// and accumulateRows1… for the first rows of an A panel (edges of the
	// GEMM: the other columns or rows are padding).
	type shape struct {
		name       string
		rows, cols int
	}
	shapes := []shape{{"accumulate", M, N}}
	for cols := N - 1; cols >= 1; cols-- {
		shapes = append(shapes, shape{fmt.Sprintf("accumulateCols%d", cols), M, cols})
	}
	for rows := M - 1; rows >= 1; rows-- {
		shapes = append(shapes, shape{fmt.Sprintf("accumulateRows%d", rows), rows, N})
	}
	for _, sh := range shapes {
		name, rows, cols := sh.name, sh.rows, sh.cols
		p("// func %s(kc int, ap *aRow, bp *bRow, acc *[%d]float32)", name, M*N)
		p("TEXT ·%s(SB), NOSPLIT, $0-32", name)
		p("\tI64Load kc+0(FP)")
		p("\tSet R2")
		p("\tI64Load ap+8(FP)")
		p("\tSet R0")
		p("\tI64Load bp+16(FP)")
		p("\tSet R1")
		kloop(rows, cols)
		p("\tI64Load acc+24(FP)")
		p("\tSet R3")
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				a := i*N + j
				p("\tGet R3\n\tI32WrapI64\n\tGet F%d\n\tF32Store $%d", a, 4*a)
			}
		}
		p("\tRET")
		p("")
	}
	// tiles: R3 kc, R4 A panels left, R5 B panels left, R6 A panel, R7 B
	// panel, R8 C tile, R9 C column of the B panel, R10 C's row stride in
	// bytes, R11 a row of the C tile. The k loop stays in accumulate, a
	// leaf with nothing but that loop: inlined here, V8 unrolls it, loads
	// all of A's values of a k-step before the arithmetic and keeps an
	// accumulator in memory (measured: a third slower). The call is a plain
	// wasm call (CALLNORESUME: accumulate never switches goroutines) with
	// its arguments and its acc in this function's frame.
	accOff := 32
	frame := (accOff + 4*M*N + 7) / 8 * 8
	p("// func tiles(kc, npanA, npanB int, ap *aRow, bp *bRow, c *float32, ldc int, alpha, beta float32)")
	p("TEXT ·tiles(SB), NOSPLIT, $%d-64", frame)
	p("\tI64Load kc+0(FP)\n\tSet R3")
	p("\tI64Load bp+32(FP)\n\tSet R7")
	p("\tI64Load c+40(FP)\n\tSet R9")
	p("\tI64Load ldc+48(FP)\n\tI64Const $2\n\tI64Shl\n\tSet R10")
	p("\tI64Load npanB+16(FP)\n\tSet R5")
	p("\tLoop") // over B panels
	p("\tI64Load ap+24(FP)\n\tSet R6")
	p("\tGet R9\n\tSet R8")
	p("\tI64Load npanA+8(FP)\n\tSet R4")
	p("\tLoop") // over A panels
	p("\tMOVD R3, 0(SP)")
	p("\tMOVD R6, 8(SP)")
	p("\tMOVD R7, 16(SP)")
	p("\tGet SP\n\tI64ExtendI32U\n\tI64Const $%d\n\tI64Add\n\tSet R11", accOff)
	p("\tMOVD R11, 24(SP)")
	p("\tCALLNORESUME ·accumulate(SB)")
	// C = alpha·acc (+ beta·C), row by row.
	acc := func(a int) { p("\tGet SP\n\tF32Load $%d", accOff+4*a) }
	p("\tF32Load alpha+56(FP)\n\tSet F14")
	p("\tF32Load beta+60(FP)\n\tSet F15")
	p("\tGet F15\n\tF32Const $(0.0)\n\tF32Eq")
	// update writes C's rows: alpha·acc, plus beta·C if withBeta.
	update := func(withBeta bool) {
		for i := 0; i < M; i++ {
			p("\tGet R8")
			if i > 0 {
				p("\tGet R10\n\tI64Const $%d\n\tI64Mul\n\tI64Add", i)
			}
			p("\tSet R11")
			for j := 0; j < N; j++ {
				p("\tGet R11\n\tI32WrapI64\n\tGet F14")
				acc(i*N + j)
				p("\tF32Mul")
				if withBeta {
					p("\tGet F15\n\tGet R11\n\tI32WrapI64\n\tF32Load $%d\n\tF32Mul\n\tF32Add", 4*j)
				}
				p("\tF32Store $%d", 4*j)
			}
		}
	}
	p("\tIf")
	update(false)
	p("\tElse")
	update(true)
	p("\tEnd")
	// Next A panel, gemmMR rows of C further down.
	p("\tGet R6\n\tGet R3\n\tI64Const $%d\n\tI64Mul\n\tI64Add\n\tSet R6", 4*M)
	p("\tGet R8\n\tGet R10\n\tI64Const $%d\n\tI64Mul\n\tI64Add\n\tSet R8", M)
	p("\tGet R4\n\tI64Const $1\n\tI64Sub\n\tTee R4")
	p("\tI64Eqz\n\tI32Eqz\n\tBrIf $0")
	p("\tEnd")
	// Next B panel, gemmNR columns of C further right.
	p("\tGet R7\n\tGet R3\n\tI64Const $%d\n\tI64Mul\n\tI64Add\n\tSet R7", 4*N)
	p("\tGet R9\n\tI64Const $%d\n\tI64Add\n\tSet R9", 4*N)
	p("\tGet R5\n\tI64Const $1\n\tI64Sub\n\tTee R5")
	p("\tI64Eqz\n\tI32Eqz\n\tBrIf $0")
	p("\tEnd")
	p("\tRET")
	return b.Bytes()
}

// writeRows emits a packer that interleaves R contiguous source rows. With
// direct, each value is stored into its place: natively a composite
// literal of 6 or 16 values is built in a stack temporary and copied out
// with 16-byte loads that wait on the temporary's 4-byte stores (measured:
// packRowsA of the 6×16 kernel took 40 % as long as the multiplications in
// a ResNet-18 forward pass).
func writeRows(b *bytes.Buffer, name, typ string, R int, doc string, direct bool) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	p("// %s sets d[p][r] = src[r·ld+p] for every p < len(d) and r < %d:", name, R)
	p("// %s", doc)
	p("func %s(d []%s, src []float32, ld int) {", name, typ)
	p("n := len(d)")
	for r := 0; r < R; r++ {
		if r == 0 {
			p("r0 := src[:n]")
		} else {
			p("r%d := src[%d*ld:][:n]", r, r)
		}
	}
	p("p := 0")
	p("for ; p+4 <= n; p += 4 {")
	for r := 0; r < R; r++ {
		p("x%d := (*[4]float32)(r%d[p : p+4])", r, r)
	}
	p("dd := (*[4]%s)(d[p : p+4])", typ)
	for u := 0; u < 4; u++ {
		var v []string
		for r := 0; r < R; r++ {
			v = append(v, fmt.Sprintf("x%d[%d]", r, u))
		}
		if direct {
			p("q%d := &dd[%d]", u, u)
			for r := 0; r < R; r++ {
				p("q%d[%d] = x%d[%d]", u, r, r, u)
			}
		} else {
			p("dd[%d] = %s{%s}", u, typ, strings.Join(v, ", "))
		}
	}
	p("}")
	p("for ; p < n; p++ {")
	var v []string
	for r := 0; r < R; r++ {
		v = append(v, fmt.Sprintf("r%d[p]", r))
	}
	if direct {
		p("q := &d[p]")
		for r := 0; r < R; r++ {
			p("q[%d] = r%d[p]", r, r)
		}
	} else {
		p("d[p] = %s{%s}", typ, strings.Join(v, ", "))
	}
	p("}")
	p("}")
}

// list returns "f(0), f(1), …" for n items.
func list(f string, n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf(f, i)
	}
	return strings.Join(s, ", ")
}

// listIdx returns "x[0], x[1], …" for n items.
func listIdx(x string, n int) string {
	return list(x+"[%d]", n)
}

// amd64BlockDoc documents the amd64 block shape (measured: see
// docs/performance.md, "Native kernels (amd64)").
const amd64BlockDoc = `// Register block of the amd64 micro-kernel: 6 rows of A × 16 columns of B.
//
// With AVX (checked at run time, cpu_amd64.go) the full tiles are
// assembly (gemm_kernel_amd64.s): the 6×16 block of C is 12 YMM
// accumulators, one k-step of B is two YMM loads, and each A value is
// broadcast into a register, so every k-step is 8 loads and 12 vector
// multiply-adds, with the k loop unrolled ×4. Each multiply-add is a
// VMULPS and a VADDPS, rounded twice as in Go: the sums are those of the
// plain-Go kernels, in the same order, bit for bit, on every build.
// (mkkernels.go can emit VFMADD231PS instead, fma: true: 1.3–1.4× as fast
// in the GEMM benchmarks, but its different rounding moved ResNet-18's
// Ablation-CAM to 1.6e-4 of the PyTorch reference, past the 1e-4 the
// oracle tests allow, and Captum's occlusion of an image alone from the
// same image in a batch by 2.3e-5, past 1e-5.) 6×16 is the largest block
// whose accumulators, B vectors, A value and product fit the 16 YMM
// registers; see docs/performance.md, "Native kernels (amd64)".
// Without AVX the plain-Go twin (microKernelGo) computes the same block
// as 2×4 sub-blocks, each a k loop in the SSE registers as in
// gemm_kernel_other.go.`

// writeAVXKernel emits the Go side of an AVX kernel: the assembly
// declaration, microKernel and fullTiles choosing between the assembly and
// the plain-Go twin at run time, and the twin itself.
func (t target) writeAVXKernel(b *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	M, N, U := t.mr, t.nr, t.unroll
	p("// kernelFMA: the assembly uses fused multiply-adds (and needs FMA3).")
	p("const kernelFMA = %v", t.fma)
	p("")
	if M%2 != 0 || N%8 != 0 {
		log.Fatalf("%s: an AVX block needs an even number of rows and a multiple of 8 columns, not %d×%d", t.file, M, N)
	}
	p("// tilesAVX computes C = alpha·A·B + beta·C on npanA×npanB full tiles,")
	p("// like fullTiles (%s; only when useAVX).", t.avx)
	p("//")
	p("//go:noescape")
	p("func tilesAVX(kc, npanA, npanB int, ap *aRow, bp *bRow, c *float32, ldc int, alpha, beta float32)")
	p("")
	p("// microKernel computes the gemmMR×gemmNR block")
	p("//")
	p("//	C = alpha·Σ_p ap[p]ᵀ·bp[p] + beta·C   (C row-major with stride ldc)")
	p("//")
	p("// over 1 ≤ kc ≤ kcMax steps. ap and bp must have at least kcMax+panelPad")
	p("// entries (the pack buffers guarantee it). beta == 0 means C is not read.")
	p("func microKernel(kc int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) {")
	p("if !useAVX {")
	p("microKernelGo(kc, ap, bp, c, ldc, alpha, beta)")
	p("return")
	p("}")
	p("_, _ = ap[kc-1], bp[kc-1]")
	p("_ = c[(gemmMR-1)*ldc+gemmNR-1]")
	p("if useAVX512 {")
	p("tilesAVX512(kc, 1, 1, &ap[0], &bp[0], &c[0], ldc, alpha, beta)")
	p("return")
	p("}")
	p("tilesAVX(kc, 1, 1, &ap[0], &bp[0], &c[0], ldc, alpha, beta)")
	p("}")
	p("")
	p("// tilesAVX8 is tilesAVX on the first 8 columns of each B panel: C is")
	p("// npanA·gemmMR × npanB·8 (%s; only when useAVX).", t.avx)
	p("//")
	p("//go:noescape")
	p("func tilesAVX8(kc, npanA, npanB int, ap *aRow, bp *bRow, c *float32, ldc int, alpha, beta float32)")
	p("")
	p("// tilesAVX512 is tilesAVX with one ZMM register per row of the block")
	p("// (%s; only when useAVX512).", t.avx)
	p("//")
	p("//go:noescape")
	p("func tilesAVX512(kc, npanA, npanB int, ap *aRow, bp *bRow, c *float32, ldc int, alpha, beta float32)")
	p("")
	p("// columnAVX1 … columnAVX8 set out[8·q+r] to Σ_p ap[q·kc+p][r]·bp[16·p] for")
	p("// panels q < 1…8 and rows r < gemmMR (%s; only when useAVX): one", t.avx)
	p("// column of a B panel against several A panels (the loads read 2 values")
	p("// past each k-step's gemmMR: the pack buffers have the slack).")
	for q := 1; q <= 8; q++ {
		p("//")
		p("//go:noescape")
		p("func columnAVX%d(kc int, ap *aRow, bp *float32, out *float32)", q)
	}
	p("")
	p("// columnKernels[q-1] is columnAVX<q>.")
	p("var columnKernels = [...]func(kc int, ap *aRow, bp *float32, out *float32){")
	for q := 1; q <= 8; q++ {
		p("columnAVX%d,", q)
	}
	p("}")
	p("")
	p("// edgeColumns computes the edge tiles of a B panel with cols valid")
	p("// columns against npanA A panels, C = alpha·A·B + beta·C, one column at a")
	p("// time with columnAVX (the same sums as the tiles), when cols is small")
	p("// enough for that to cost less than a tile per A panel; it reports")
	p("// whether it did.")
	p("func edgeColumns(kc, npanA, rows, cols int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) bool {")
	p("if !useAVX || cols > 4 {")
	p("return false")
	p("}")
	p("_, _ = ap[npanA*kc-1], bp[kc-1]")
	p("var out [64]float32")
	p("for j := 0; j < cols; j++ {")
	p("for q0 := 0; q0 < npanA; q0 += 8 {")
	p("nq := min(8, npanA-q0)")
	p("columnKernels[nq-1](kc, &ap[q0*kc], &bp[0][j], &out[0])")
	p("for q := 0; q < nq; q++ {")
	p("for r := 0; r < gemmMR; r++ {")
	p("i := (q0+q)*gemmMR + r")
	p("if i >= rows {")
	p("break")
	p("}")
	p("v := out[8*q+r]")
	p("if beta == 0 {")
	p("c[i*ldc+j] = alpha * v")
	p("} else {")
	p("c[i*ldc+j] = alpha*v + beta*c[i*ldc+j]")
	p("}")
	p("}")
	p("}")
	p("}")
	p("}")
	p("return true")
	p("}")
	p("")
	p("// edgeKernel sets tmp to the sums of an edge tile whose B panel has cols")
	p("// valid columns (the rest are zero): the first 8 columns only when cols ≤ 8")
	p("// and the CPU has AVX (the sums of those columns are the same).")
	p("func edgeKernel(kc int, ap []aRow, bp []bRow, tmp *[gemmMR * gemmNR]float32, rows, cols int) {")
	p("if cols > 8 || !useAVX || useAVX512 {")
	p("microKernel(kc, ap, bp, tmp[:], gemmNR, 1, 0)")
	p("return")
	p("}")
	p("_, _ = ap[kc-1], bp[kc-1]")
	p("tilesAVX8(kc, 1, 1, &ap[0], &bp[0], &tmp[0], gemmNR, 1, 0)")
	p("}")
	p("")
	p("// fullTiles computes C = alpha·A·B + beta·C on the top-left")
	p("// npanA·gemmMR × npanB·gemmNR block of C (row-major, stride ldc) from")
	p("// npanA packed A micro-panels and npanB packed B micro-panels of kc ≥ 1")
	p("// k-steps each (panel q at ap[q·kc:], bp[q·kc:]), in assembly when the")
	p("// CPU has AVX.")
	p("func fullTiles(kc, npanA, npanB int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) {")
	p("if npanA == 0 || npanB == 0 {")
	p("return")
	p("}")
	p("if !useAVX {")
	p("fullTilesGo(kc, npanA, npanB, ap, bp, c, ldc, alpha, beta)")
	p("return")
	p("}")
	p("_ = ap[npanA*kc-1]")
	p("_ = bp[npanB*kc-1]")
	p("_ = c[(npanA*gemmMR-1)*ldc+npanB*gemmNR-1]")
	p("if useAVX512 {")
	p("tilesAVX512(kc, npanA, npanB, &ap[0], &bp[0], &c[0], ldc, alpha, beta)")
	p("return")
	p("}")
	p("tilesAVX(kc, npanA, npanB, &ap[0], &bp[0], &c[0], ldc, alpha, beta)")
	p("}")
	p("")
	p("// fullTilesGo is fullTiles in plain Go: one microKernelGo call per tile.")
	p("func fullTilesGo(kc, npanA, npanB int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) {")
	p("for jr := 0; jr < npanB; jr++ {")
	p("bpan := bp[jr*kc:]")
	p("for ir := 0; ir < npanA; ir++ {")
	p("microKernelGo(kc, ap[ir*kc:], bpan, c[ir*gemmMR*ldc+jr*gemmNR:], ldc, alpha, beta)")
	p("}")
	p("}")
	p("}")
	p("")
	p("// microKernelGo is microKernel in plain Go, for CPUs without AVX: the")
	p("// block's sums are computed 2 rows × 4 columns at a time (accRows…), each")
	p("// in order of p, then C is updated.")
	p("func microKernelGo(kc int, ap []aRow, bp []bRow, c []float32, ldc int, alpha, beta float32) {")
	p("var acc [gemmMR * gemmNR]float32")
	p("pa := (*[kcMax + panelPad]aRow)(ap)")
	p("pb := (*[kcMax + panelPad]bRow)(bp)")
	for i := 0; i < M; i += 2 {
		p("accRows%d%d(kc, pa, pb, &acc)", i, i+1)
	}
	p("for r := 0; r < gemmMR; r++ {")
	p("row := c[r*ldc:][:gemmNR]")
	p("sums := (*[gemmNR]float32)(acc[r*gemmNR:])")
	p("if beta == 0 {")
	p("for j, v := range sums {")
	p("row[j] = alpha * v")
	p("}")
	p("continue")
	p("}")
	p("for j, v := range sums {")
	p("row[j] = alpha*v + beta*row[j]")
	p("}")
	p("}")
	p("}")
	for i := 0; i < M; i += 2 {
		p("")
		p("// accRows%d%d sets rows %d and %d of acc to the sums of the block over kc", i, i+1, i, i+1)
		p("// k-steps, 4 columns at a time: 8 accumulators in registers.")
		p("func accRows%d%d(kc int, pa *[kcMax + panelPad]aRow, pb *[kcMax + panelPad]bRow, acc *[gemmMR * gemmNR]float32) {", i, i+1)
		p("for j0 := 0; j0+4 <= gemmNR; j0 += 4 {")
		p("var c00, c01, c02, c03, c10, c11, c12, c13 float32")
		p("var p uint8")
		loop := func(steps int, cond, inc string) {
			p("if n := %s; n > 0 {", cond)
			p("for {")
			p("qa, qb := (*[%d]aRow)(pa[p:int(p)+%d]), (*[%d]bRow)(pb[p:int(p)+%d])", steps, steps, steps, steps)
			for u := 0; u < steps; u++ {
				p("{")
				p("ra, rb := &qa[%d], &qb[%d]", u, u)
				p("a0, a1 := ra[%d], ra[%d]", i, i+1)
				p("rq := (*[4]float32)(rb[j0 : j0+4])")
				for j := 0; j < 4; j++ {
					p("b%d := rq[%d]", j, j)
					p("c0%d += a0 * b%d", j, j)
					p("c1%d += a1 * b%d", j, j)
				}
				p("}")
			}
			p("%s", inc)
			p("n--")
			p("if n == 0 {")
			p("break")
			p("}")
			p("}")
			p("}")
		}
		loop(U, fmt.Sprintf("kc / %d", U), fmt.Sprintf("p += %d", U))
		loop(1, fmt.Sprintf("kc %% %d", U), "p++")
		p("r0 := (*[4]float32)(acc[%d*gemmNR+j0:])", i)
		p("r1 := (*[4]float32)(acc[%d*gemmNR+j0:])", i+1)
		p("r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03")
		p("r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13")
		p("}")
		p("}")
	}
}

// avxAssembly returns the amd64 assembly of tilesAVX: for every B panel,
// for every A panel, the k loop (unrolled t.unroll times) with the block of
// C in Y0…, one k-step of B in the next registers and the broadcast A value
// in the one after, then C = alpha·acc (+ beta·C). Registers: AX, BX walk
// the A and B panels, CX is kc, DX counts k-steps, DI is the A panel, SI
// the B panel, R8 and R9 count A and B panels left, R10 is the top of the
// B panel's column of C, R11 C's row stride in bytes, R12 the C tile, R13
// a row of it.
func (t target) avxAssembly() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	M, N := t.mr, t.nr
	nv := N / 8
	aReg := M*nv + nv
	if free := 15 - aReg; free < 0 || !t.fma && free < 1 || nv < 2 {
		log.Fatalf("%s: a %d×%d block needs %d YMM registers (at most 16, and 2 vectors of B)", t.avx, M, N, aReg+1)
	}
	p("// Code generated by mkkernels.go; DO NOT EDIT.")
	p("")
	p("//go:build !purego")
	p("")
	p("#include \"textflag.h\"")
	t.avxTiles(&b, "tilesAVX", nv)
	// The narrow kernel: the first 8 columns of each B panel only, for the
	// edge tiles of at most 8 columns (a product with 49 columns is 3 full
	// panels and 1 column).
	t.avxTiles(&b, "tilesAVX8", 1)
	for q := 1; q <= 8; q++ {
		t.avxColumn(&b, q)
	}
	// The AVX-512 kernel: the same 6×16 block with one ZMM register per row
	// of it, so half the multiplies and adds of tilesAVX per k-step: the
	// 8-column kernel's code on ZMM registers (the VEX-encoded VXORPS that
	// clears the accumulators clears whole ZMM registers).
	var z bytes.Buffer
	t.avxTiles(&z, "tilesAVX512", 1)
	b.WriteString(zmmRegs.ReplaceAllStringFunc(strings.ReplaceAll(z.String(), "tilesAVX8", "tilesAVX512"), func(m string) string {
		if strings.HasPrefix(m, "\tVXORPS") {
			return m
		}
		return yReg.ReplaceAllString(m, "Z$1")
	}))
	return b.Bytes()
}

// avxColumn writes columnAVX<q>: the sums of one column of a B panel with
// q A panels at once, one YMM accumulator per panel (its gemmMR rows in the
// low lanes; the loads of 8 floats read 2 more, whose lanes are dropped),
// so q independent chains of multiplies and adds instead of a whole tile
// per panel for one valid column.
func (t target) avxColumn(b *bytes.Buffer, q int) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	M, N := t.mr, t.nr
	if M > 8 || q > 8 {
		log.Fatalf("%s: the column kernel needs at most 8 rows and 8 panels", t.avx)
	}
	ptr := []string{"AX", "DI", "SI", "R8", "R9", "R10", "R11", "R12"}
	p("")
	p("// func columnAVX%d(kc int, ap *aRow, bp *float32, out *float32)", q)
	p("TEXT ·columnAVX%d(SB), NOSPLIT, $0-32", q)
	p("\tMOVQ kc+0(FP), CX")
	p("\tMOVQ ap+8(FP), AX")
	p("\tMOVQ bp+16(FP), BX")
	p("\tMOVQ out+24(FP), DX")
	p("\tIMUL3Q $%d, CX, R13", 4*M) // a panel's bytes
	for i := 1; i < q; i++ {
		p("\tLEAQ (%s)(R13*1), %s", ptr[i-1], ptr[i])
	}
	for i := 0; i < q; i++ {
		p("\tVXORPS Y%d, Y%d, Y%d", i, i, i)
	}
	p("loop:")
	p("\tVBROADCASTSS (BX), Y15")
	for i := 0; i < q; i++ {
		p("\tVMULPS (%s), Y15, Y14", ptr[i])
		p("\tVADDPS Y14, Y%d, Y%d", i, i)
		p("\tADDQ $%d, %s", 4*M, ptr[i])
	}
	p("\tADDQ $%d, BX", 4*N)
	p("\tDECQ CX")
	p("\tJNE loop")
	for i := 0; i < q; i++ {
		p("\tVMOVUPS Y%d, %d(DX)", i, 32*i)
	}
	p("\tVZEROUPPER")
	p("\tRET")
}

// zmmRegs matches an instruction line, yReg a YMM register in it.
var (
	zmmRegs = regexp.MustCompile(`(?m)^\t.*$`)
	yReg    = regexp.MustCompile(`\bY(\d+)\b`)
)

// avxTiles writes one TEXT block of the tiles kernel over the first nv
// 8-column vectors of each B panel (B panels stay gemmNR wide).
func (t target) avxTiles(b *bytes.Buffer, name string, nv int) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	M, N, U := t.mr, t.nr, t.unroll
	bReg, aReg := M*nv, M*nv+nv
	step := func(u int) {
		for v := 0; v < nv; v++ {
			p("\tVMOVUPS %d(BX), Y%d", 4*(u*N+8*v), bReg+v)
		}
		for i := 0; i < M; i++ {
			p("\tVBROADCASTSS %d(AX), Y%d", 4*(u*M+i), aReg)
			for v := 0; v < nv; v++ {
				if t.fma {
					p("\tVFMADD231PS Y%d, Y%d, Y%d", bReg+v, aReg, i*nv+v)
				} else {
					p("\tVMULPS Y%d, Y%d, Y%d", bReg+v, aReg, aReg+1)
					p("\tVADDPS Y%d, Y%d, Y%d", aReg+1, i*nv+v, i*nv+v)
				}
			}
		}
	}
	p("")
	p("// func %s(kc, npanA, npanB int, ap *aRow, bp *bRow, c *float32, ldc int, alpha, beta float32)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-64", name)
	p("\tMOVQ kc+0(FP), CX")
	p("\tMOVQ npanB+16(FP), R9")
	p("\tMOVQ bp+32(FP), SI")
	p("\tMOVQ c+40(FP), R10")
	p("\tMOVQ ldc+48(FP), R11")
	p("\tSHLQ $2, R11")
	p("panelB:")
	p("\tMOVQ ap+24(FP), DI")
	p("\tMOVQ R10, R12")
	p("\tMOVQ npanA+8(FP), R8")
	p("panelA:")
	for a := 0; a < M*nv; a++ {
		p("\tVXORPS Y%d, Y%d, Y%d", a, a, a)
	}
	p("\tMOVQ DI, AX")
	p("\tMOVQ SI, BX")
	p("\tMOVQ CX, DX")
	p("\tSHRQ $%d, DX", log2(U))
	p("\tJEQ tail")
	p("unrolled:")
	for u := 0; u < U; u++ {
		step(u)
	}
	p("\tADDQ $%d, AX", 4*U*M)
	p("\tADDQ $%d, BX", 4*U*N)
	p("\tDECQ DX")
	p("\tJNE unrolled")
	p("tail:")
	p("\tMOVQ CX, DX")
	p("\tANDQ $%d, DX", U-1)
	p("\tJEQ update")
	p("single:")
	step(0)
	p("\tADDQ $%d, AX", 4*M)
	p("\tADDQ $%d, BX", 4*N)
	p("\tDECQ DX")
	p("\tJNE single")
	p("update:")
	// AX is now the next A panel. C = alpha·acc, or alpha·acc + beta·C
	// (two roundings, as in the plain-Go kernel) unless beta is ±0.
	alpha, beta, tmp := bReg, bReg+1, aReg
	if nv == 1 {
		beta, tmp = aReg, aReg+1 // bReg+1 is aReg
	}
	p("\tMOVQ AX, DI")
	p("\tVBROADCASTSS alpha+56(FP), Y%d", alpha)
	p("\tMOVQ R12, R13")
	p("\tMOVL beta+60(FP), DX")
	p("\tANDL $0x7fffffff, DX")
	p("\tJNE withBeta")
	for i := 0; i < M; i++ {
		for v := 0; v < nv; v++ {
			p("\tVMULPS Y%d, Y%d, Y%d", alpha, i*nv+v, i*nv+v)
			p("\tVMOVUPS Y%d, %d(R13)", i*nv+v, 32*v)
		}
		p("\tADDQ R11, R13")
	}
	p("\tJMP nextA")
	p("withBeta:")
	p("\tVBROADCASTSS beta+60(FP), Y%d", beta)
	for i := 0; i < M; i++ {
		for v := 0; v < nv; v++ {
			p("\tVMULPS Y%d, Y%d, Y%d", alpha, i*nv+v, i*nv+v)
			p("\tVMULPS %d(R13), Y%d, Y%d", 32*v, beta, tmp)
			p("\tVADDPS Y%d, Y%d, Y%d", tmp, i*nv+v, i*nv+v)
			p("\tVMOVUPS Y%d, %d(R13)", i*nv+v, 32*v)
		}
		p("\tADDQ R11, R13")
	}
	p("nextA:")
	p("\tMOVQ R13, R12")
	p("\tDECQ R8")
	p("\tJNE panelA")
	// Next B panel: kc k-steps further, gemmNR columns of C further right.
	p("\tIMUL3Q $%d, CX, DX", 4*N)
	p("\tADDQ DX, SI")
	p("\tADDQ $%d, R10", 4*N)
	p("\tDECQ R9")
	p("\tJNE panelB")
	p("\tVZEROUPPER")
	p("\tRET")
}

// log2 returns the base-2 logarithm of a power of two.
func log2(n int) int {
	l := 0
	for 1<<l < n {
		l++
	}
	if 1<<l != n {
		log.Fatalf("%d is not a power of two", n)
	}
	return l
}
