package kernels

// PackedA is op(A) of a matrix product packed once for many products with
// it (a layer's weights): the blocks Sgemm packs for every call, in the
// order it uses them. SgemmPacked with it computes what Sgemm computes
// with the same sums, bit for bit when m and n are at least 2 (Sgemm takes
// matrix-vector shapes without packing), without packing A again.
type PackedA struct {
	m, k     int
	kcb, mcb int    // k block and row block, as sgemmSerial picks them
	nmb      int    // row blocks per k block
	off      []int  // start of block (k block q, row block r) at off[q·nmb+r]
	data     []aRow // the blocks, then kcMax+panelPad rows of slack
}

// PackA packs op(A) (m×k: A is m×k with leading dimension lda, or k×m
// when transA) for SgemmPacked. It panics on bad dimensions, like Sgemm.
func PackA(transA bool, m, k int, a []float32, lda int) *PackedA {
	if m < 1 || k < 1 {
		panic("kernels.PackA: dimensions must be positive")
	}
	if transA {
		checkMat("A", a, k, m, lda)
	} else {
		checkMat("A", a, m, k, lda)
	}
	pa := &PackedA{m: m, k: k, kcb: blockSize(k, kcMax, 1), mcb: blockSize(m, mcBlk, gemmMR)}
	pa.nmb = (m + pa.mcb - 1) / pa.mcb
	n := 0
	for pc := 0; pc < k; pc += pa.kcb {
		kb := min(pa.kcb, k-pc)
		for ic := 0; ic < m; ic += pa.mcb {
			mb := min(pa.mcb, m-ic)
			pa.off = append(pa.off, n)
			n += (mb + gemmMR - 1) / gemmMR * kb
		}
	}
	pa.data = make([]aRow, n+kcMax+panelPad)
	i := 0
	for pc := 0; pc < k; pc += pa.kcb {
		kb := min(pa.kcb, k-pc)
		for ic := 0; ic < m; ic += pa.mcb {
			mb := min(pa.mcb, m-ic)
			packA(transA, a, lda, ic, mb, pc, kb, pa.data[pa.off[i]:])
			i++
		}
	}
	return pa
}

// Rows is the number of rows of op(A) (m).
func (pa *PackedA) Rows() int { return pa.m }

// Cols is the number of columns of op(A) (k).
func (pa *PackedA) Cols() int { return pa.k }

// SgemmPacked computes C = alpha·op(A)·op(B) + beta·C with op(A) packed by
// PackA (m×k), op(B) k×n (B is k×n with ldb, or n×k when transB) and C m×n
// with ldc, with Sgemm's conventions (beta == 0: C is not read).
func SgemmPacked(pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if n < 0 {
		panic("kernels.SgemmPacked: negative dimension")
	}
	m, k := pa.m, pa.k
	if n == 0 {
		return
	}
	checkMat("C", c, m, n, ldc)
	if alpha == 0 {
		scaleMat(m, n, beta, c, ldc)
		return
	}
	if transB {
		checkMat("B", b, n, k, ldb)
	} else {
		checkMat("B", b, k, n, ldb)
	}
	sgemmPackedSplit(pa, transB, n, alpha, b, ldb, beta, c, ldc)
}

// sgemmPackedSerial is sgemmSerial with A already packed: the same blocks
// in the same order, so the same sums.
func sgemmPackedSerial(pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := getBufs()
	defer putBufs(g)
	bbuf := g.packB()
	m, k := pa.m, pa.k
	ncb := blockSize(n, ncBlk, gemmNR)
	for jc := 0; jc < n; jc += ncb {
		nb := min(ncb, n-jc)
		i := 0
		for pc := 0; pc < k; pc += pa.kcb {
			kb := min(pa.kcb, k-pc)
			bt := beta
			if pc > 0 {
				bt = 1
			}
			packB(transB, b, ldb, pc, kb, jc, nb, bbuf)
			for ic := 0; ic < m; ic += pa.mcb {
				mb := min(pa.mcb, m-ic)
				macroKernel(mb, nb, kb, pa.data[pa.off[i]:], bbuf, alpha, bt, c[ic*ldc+jc:], ldc)
				i++
			}
		}
	}
}

// Floats is the memory the packed matrix takes, in float32s.
func (pa *PackedA) Floats() int { return len(pa.data) * gemmMR }
