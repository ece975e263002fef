package kernels

// Assembly attention kernels (attn_amd64.s); d is a multiple of 8 and the
// wrappers check lengths so a caller bug cannot read out of bounds.

//go:noescape
func scoresH16(sc *float32, k *uint16, stride, n int, q *float32, d int, scale float32)

//go:noescape
func scoresF32(sc, k *float32, stride, n int, q *float32, d int, scale float32)

//go:noescape
func scoresH16V(sc *float32, k *uint16, stride, n int, q *float32, d int, scale float32)

//go:noescape
func scoresH16V4(sc *float32, scStride int, k *uint16, stride, n int, q *float32, qStride, d int, scale float32)

// scoresH16V4Asm is scoresH16VGroupGo through scoresH16V4 (d a multiple of 64).
func scoresH16V4Asm(s []float32, sstride int, k []uint16, stride int, q []float32, qstride, d int, scale float32) {
	n := sstride
	if d == 0 || d%64 != 0 || n == 0 || len(s) < 3*sstride+n || len(q) < 3*qstride+d || qstride < d || !rowsFit(n, d, stride, len(k)) {
		scoresH16VGroupGo(s, sstride, k, stride, q, qstride, d, scale)
		return
	}
	scoresH16V4(&s[0], sstride, &k[0], stride, n, &q[0], qstride, d, scale)
}

//go:noescape
func pvTailH16(o *float32, v *uint16, stride, n int, p *float32, d int)

//go:noescape
func probsH16(p *float32, n int, inv float32)

//go:noescape
func pvH16(o *float32, v *uint16, stride, n int, p *float32, d int)

//go:noescape
func pvF32(o, v *float32, stride, n int, p *float32, d int)

func scoresH16Asm(s []float32, k []uint16, stride int, q []float32, scale float32) {
	d := len(q)
	if len(s) == 0 || d == 0 || d%8 != 0 || !rowsFit(len(s), d, stride, len(k)) {
		scoresH16Go(s, k, stride, q, scale)
		return
	}
	scoresH16(&s[0], &k[0], stride, len(s), &q[0], d, scale)
}

func scoresH16VAsm(s []float32, k []uint16, stride int, q []float32, scale float32) {
	d := len(q)
	if len(s) == 0 || d == 0 || d%64 != 0 || !rowsFit(len(s), d, stride, len(k)) {
		scoresH16VGo(s, k, stride, q, scale)
		return
	}
	scoresH16V(&s[0], &k[0], stride, len(s), &q[0], d, scale)
}

func pvTailAsm(o []float32, v []uint16, stride int, p []float32) {
	d := len(o)
	if len(p) == 0 || d == 0 || d%8 != 0 || !rowsFit(len(p), d, stride, len(v)) {
		pvTailGo(o, v, stride, p)
		return
	}
	pvTailH16(&o[0], &v[0], stride, len(p), &p[0], d)
}

func scoresF32Asm(s, k []float32, stride int, q []float32, scale float32) {
	d := len(q)
	if len(s) == 0 || d == 0 || d%8 != 0 || !rowsFit(len(s), d, stride, len(k)) {
		scoresF32Go(s, k, stride, q, scale)
		return
	}
	scoresF32(&s[0], &k[0], stride, len(s), &q[0], d, scale)
}

func probsH16Asm(p []float32, inv float32) {
	if len(p) == 0 {
		return
	}
	probsH16(&p[0], len(p), inv)
}

func pvH16Asm(o []float32, v []uint16, stride int, p []float32) {
	d := len(o)
	if len(p) == 0 || d == 0 || d%8 != 0 || !rowsFit(len(p), d, stride, len(v)) {
		pvH16Go(o, v, stride, p)
		return
	}
	pvH16(&o[0], &v[0], stride, len(p), &p[0], d)
}

func pvF32Asm(o, v []float32, stride int, p []float32) {
	d := len(o)
	if len(p) == 0 || d == 0 || d%8 != 0 || !rowsFit(len(p), d, stride, len(v)) {
		pvF32Go(o, v, stride, p)
		return
	}
	pvF32(&o[0], &v[0], stride, len(p), &p[0], d)
}

//go:noescape
func pvLanesZ(acc *float32, d int, v *uint16, stride int, p *float32, n, lane0, lanes int)

//go:noescape
func reduceLanesZ(o, acc *float32, d, lanes int)

// pvLanesAsm is kPVLanes on AVX-512 (attnz_amd64.s): the same lane sums
// and reduction as pvH16Lanes' per-lane kPVH16 calls, without a call per
// lane or the Go row folds.
func pvLanesAsm(o, acc []float32, v []uint16, stride int, p []float32, jlo, lanes int) bool {
	d := len(o)
	if d == 0 || d%16 != 0 || (lanes != 16 && lanes != 64) || len(acc) < lanes*d || !rowsFit(len(p), d, stride, len(v)) {
		return false
	}
	var pp *float32
	var vp *uint16
	if len(p) > 0 {
		pp, vp = &p[0], &v[0]
	}
	pvLanesZ(&acc[0], d, vp, stride, pp, len(p), jlo%lanes, lanes)
	reduceLanesZ(&o[0], &acc[0], d, lanes)
	return true
}

func init() {
	if hasZ512 {
		kPVLanes = pvLanesAsm
		kScoresH16V4 = scoresH16V4Asm
	}
	if hasAVX2 {
		kScoresH16, kScoresF32, kProbsH16 = scoresH16Asm, scoresF32Asm, probsH16Asm
		kPVH16, kPVF32, kSoftmax = pvH16Asm, pvF32Asm, softmaxAsm
		kScoresH16V, kPVTail = scoresH16VAsm, pvTailAsm
	}
}

//go:noescape
func maxF32(s *float32, n int) float32

//go:noescape
func expSum4(s *float32, n4 int, mx float32, acc *[4]float64)

//go:noescape
func expSum8(s *float32, n8 int, mx float32, acc *[4]float64)

// softmaxAsm is softmaxGo with the max and the first len(s)&^3 exponentials
// in assembly (8 at a time with AVX-512, then 4); the tail uses the same
// scalar expPoly.
func softmaxAsm(s []float32) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	mx := maxF32(&s[0], n)
	var acc [4]float64
	n8 := 0
	if hasZ512 {
		n8 = n &^ 7
		if n8 > 0 {
			expSum8(&s[0], n8, mx, &acc)
		}
	}
	n4 := n &^ 3
	if n4 > n8 {
		expSum4(&s[n8], n4-n8, mx, &acc)
	}
	for j := n4; j < n; j++ {
		e := expPoly(s[j] - mx)
		s[j] = e
		acc[j&3] += float64(e)
	}
	return (acc[0] + acc[1]) + (acc[2] + acc[3])
}
