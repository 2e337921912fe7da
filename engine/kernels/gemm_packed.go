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
	sgemmPackedSplit(pa, matB{trans: transB, b: b, ld: ldb}, n, alpha, beta, c, ldc)
}

// SgemmPackedConv computes C = alpha·A·im2col(x) + beta·C for a
// convolution: A packed by PackA (m×k, k = g.C·g.KH·g.KW, the weights of
// one group) and im2col(x) the k×(g.OutH·g.OutW) matrix Im2col would make of
// the C×H×W image x. It does not make that matrix: the GEMM packs its
// micro-panels straight from x. The sums are SgemmPacked's on Im2col's
// matrix, bit for bit (with at least 2 columns; SgemmPacked with one column
// is a matrix-vector product). It needs positive strides, like Im2colRows.
func SgemmPackedConv(pa *PackedA, g ConvGeom, x []float32, alpha, beta float32, c []float32, ldc int) {
	n, k := checkConv(g, x)
	if k != pa.k {
		panic("kernels.SgemmPackedConv: the image's channels and kernel do not match A's columns")
	}
	checkMat("C", c, pa.m, n, ldc)
	if alpha == 0 {
		scaleMat(pa.m, n, beta, c, ldc)
		return
	}
	sgemmPackedSplit(pa, matB{b: x, conv: &g}, n, alpha, beta, c, ldc)
}

// matB is op(B) of a product with a packed A: a stored matrix (B, or Bᵀ
// when trans, leading dimension ld) or, when conv is set, the im2col matrix
// of the image b for that geometry, from its column j0 on.
type matB struct {
	trans bool
	b     []float32
	ld    int
	conv  *ConvGeom
	j0    int
}

// from returns op(B) from its column lo on.
func (s matB) from(lo int) matB {
	switch {
	case s.conv != nil:
		s.j0 += lo
	case s.trans:
		s.b = s.b[lo*s.ld:] // op(B) columns are rows of B
	default:
		s.b = s.b[lo:]
	}
	return s
}

// pack packs op(B)[p0:p0+kb, j0:j0+nb] into micro-panels, as packB does;
// tmp is scratch of at least nb values for the im2col rows.
func (s *matB) pack(p0, kb, j0, nb int, dst []bRow, tmp []float32) {
	if s.conv == nil {
		packB(s.trans, s.b, s.ld, p0, kb, j0, nb, dst)
		return
	}
	packIm2col(s.conv, s.b, p0, kb, s.j0+j0, nb, dst, tmp)
}

// sgemmPackedSerial is sgemmSerial with A already packed: the same blocks
// in the same order, so the same sums. It computes rows r0…r1-1 of C (r0 a
// multiple of gemmMR): the split along m takes whole micro-panels of each
// packed row block.
func sgemmPackedSerial(pa *PackedA, r0, r1 int, b matB, n int, alpha, beta float32, c []float32, ldc int) {
	g := getBufs()
	defer putBufs(g)
	bbuf := g.packB()
	var tmp []float32
	ncb := blockSize(n, ncBlk, gemmNR)
	if b.conv != nil {
		tmp = g.scratch(ncb)
	}
	m, k := pa.m, pa.k
	for jc := 0; jc < n; jc += ncb {
		nb := min(ncb, n-jc)
		i := 0
		for pc := 0; pc < k; pc += pa.kcb {
			kb := min(pa.kcb, k-pc)
			bt := beta
			if pc > 0 {
				bt = 1
			}
			b.pack(pc, kb, jc, nb, bbuf, tmp)
			for ic := 0; ic < m; ic += pa.mcb {
				lo, hi := max(ic, r0), min(ic+pa.mcb, m, r1)
				if lo < hi {
					ap := pa.data[pa.off[i]+(lo-ic)/gemmMR*kb:]
					if touchPackedA {
						g.sink += touchRows(ap[:(hi-lo+gemmMR-1)/gemmMR*kb])
					}
					macroKernel(hi-lo, nb, kb, ap, bbuf, alpha, bt, c[lo*ldc+jc:], ldc)
				}
				i++
			}
		}
	}
}

// Floats is the memory the packed matrix takes, in float32s.
func (pa *PackedA) Floats() int { return len(pa.data) * gemmMR }

// touchRows reads a value at least every 64 bytes of p (rows of gemmMR
// floats), so one in each cache line, four per iteration: a packed block
// of A that is not in cache then arrives with many lines in flight rather
// than a few at a time (see touchPackedA). It returns the sum of what it
// read, which the caller keeps, so that the reads are not optimised away.
func touchRows(p []aRow) float32 {
	const step = 64 / (4 * gemmMR) // rows: reads at most a line apart
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4*step <= len(p); i += 4 * step {
		q := p[i : i+4*step]
		s0 += q[0][0]
		s1 += q[step][0]
		s2 += q[2*step][0]
		s3 += q[3*step][0]
	}
	for ; i < len(p); i += step {
		s0 += p[i][0]
	}
	return s0 + s1 + s2 + s3
}
