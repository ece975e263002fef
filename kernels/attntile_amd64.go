package kernels

// AVX-512 attention tiles (attntile_amd64.s, written by internal/gen); the
// wrappers check shapes and lengths so a caller bug cannot read out of
// bounds, falling back to the twins.

//go:noescape
func scoresTile4(s *float32, sstride int, k *uint16, kstride, n int, q *float32, d int, scale float32)

//go:noescape
func pvTile4(acc *float32, d int, v *uint16, vstride int, p *float32, pstride, n, lane0 int)

//go:noescape
func pvTile4L64(acc *float32, d int, v *uint16, vstride int, p *float32, pstride, n, lane0 int)

func scoresTile4Asm(s []float32, sstride int, k []uint16, kstride, n int, q []float32, d int, scale float32) {
	if n <= 0 || n%4 != 0 || d <= 0 || d%16 != 0 || sstride < n || len(s) < 3*sstride+n || len(q) < 4*d || !rowsFit(n, d, kstride, len(k)) {
		scoresTile4Go(s, sstride, k, kstride, n, q, d, scale)
		return
	}
	scoresTile4(&s[0], sstride, &k[0], kstride, n, &q[0], d, scale)
}

func pvTile4Asm(acc []float32, d int, v []uint16, vstride int, p []float32, pstride, n, lane0, lanes int) {
	if n <= 0 || d <= 0 || d%64 != 0 || (lanes != 16 && lanes != 64) || len(acc) < 4*lanes*d || pstride < n || len(p) < 3*pstride+n || !rowsFit(n, d, vstride, len(v)) {
		pvTile4Go(acc, d, v, vstride, p, pstride, n, lane0, lanes)
		return
	}
	if lanes == 16 {
		pvTile4(&acc[0], d, &v[0], vstride, &p[0], pstride, n, lane0&15)
	} else {
		pvTile4L64(&acc[0], d, &v[0], vstride, &p[0], pstride, n, lane0&63)
	}
}

// reduceLanesAsm is fold (reduceLanes16 for 16 lanes, reduceLanes4x16 for
// 64) through reduceLanesZ, which makes the same additions.
func reduceLanesAsm(lanes int, fold func(o, acc []float32)) func(o, acc []float32) {
	return func(o, acc []float32) {
		d := len(o)
		if d == 0 || d%16 != 0 || len(acc) < lanes*d {
			fold(o, acc)
			return
		}
		reduceLanesZ(&o[0], &acc[0], d, lanes)
	}
}

func init() {
	if hasZ512 {
		kScoresTile4, kPVTile4 = scoresTile4Asm, pvTile4Asm
		kReduceLanes16, kReduceLanes64 = reduceLanesAsm(16, reduceLanes16), reduceLanesAsm(64, reduceLanes4x16)
	}
}

// AVX2 tiles (attntile_avx2_amd64.s) for CPUs without AVX-512.

//go:noescape
func scoresTile4A2(s *float32, sstride int, k *uint16, kstride, n int, q *float32, d int, scale float32)

// pvTile4A2 and pvTile4A2L64 are pvTile4 and pvTile4L64 in AVX2
// (attntile_amd64.s, written by internal/gen).
//
//go:noescape
func pvTile4A2(acc *float32, d int, v *uint16, vstride int, p *float32, pstride, n, lane0 int)

//go:noescape
func pvTile4A2L64(acc *float32, d int, v *uint16, vstride int, p *float32, pstride, n, lane0 int)

func scoresTile4A2Asm(s []float32, sstride int, k []uint16, kstride, n int, q []float32, d int, scale float32) {
	if n <= 0 || d <= 0 || d%16 != 0 || sstride < n || len(s) < 3*sstride+n || len(q) < 4*d || !rowsFit(n, d, kstride, len(k)) {
		scoresTile4Go(s, sstride, k, kstride, n, q, d, scale)
		return
	}
	scoresTile4A2(&s[0], sstride, &k[0], kstride, n, &q[0], d, scale)
}

// pvTile4A2Asm is pvTile4Asm on the AVX2 kernels.
func pvTile4A2Asm(acc []float32, d int, v []uint16, vstride int, p []float32, pstride, n, lane0, lanes int) {
	if n <= 0 || d <= 0 || d%16 != 0 || (lanes != 16 && lanes != 64) || len(acc) < 4*lanes*d || pstride < n || len(p) < 3*pstride+n || !rowsFit(n, d, vstride, len(v)) {
		pvTile4Go(acc, d, v, vstride, p, pstride, n, lane0, lanes)
		return
	}
	if lanes == 16 {
		pvTile4A2(&acc[0], d, &v[0], vstride, &p[0], pstride, n, lane0&15)
	} else {
		pvTile4A2L64(&acc[0], d, &v[0], vstride, &p[0], pstride, n, lane0&63)
	}
}

func init() {
	if !hasZ512 && hasAVX2 {
		kScoresTile4, kPVTile4 = scoresTile4A2Asm, pvTile4A2Asm
	}
}
