package kernels

// NEON attention kernels (attn_arm64.s) over the F16 cache: the decode
// path's scores and p·V, and the prefill rows' scores. Advanced SIMD is
// part of every arm64 CPU, so they need no gate.

//go:noescape
func scoresH16VNEON(sc *float32, k *uint16, stride, n int, q *float32, d int, scale float32)

//go:noescape
func scoresH16NEON(sc *float32, k *uint16, stride, n int, q *float32, d int, scale float32)

//go:noescape
func pvH16NEON(o *float32, v *uint16, stride, n int, p *float32, d int)

//go:noescape
func probsH16NEON(p *float32, n int, inv float32)

// scoresH16VArm is kScoresH16V: heads whose size is a multiple of 64 (every
// preset's) in NEON, others through the twin.
func scoresH16VArm(s []float32, k []uint16, stride int, q []float32, scale float32) {
	d := len(q)
	if len(s) == 0 || d == 0 || d%64 != 0 || !rowsFit(len(s), d, stride, len(k)) {
		scoresH16VGo(s, k, stride, q, scale)
		return
	}
	scoresH16VNEON(&s[0], &k[0], stride, len(s), &q[0], d, scale)
}

// scoresH16Arm is kScoresH16 (the prefill rows' scores): heads whose size
// is a multiple of 16 in NEON.
func scoresH16Arm(s []float32, k []uint16, stride int, q []float32, scale float32) {
	d := len(q)
	if len(s) == 0 || d == 0 || d%16 != 0 || !rowsFit(len(s), d, stride, len(k)) {
		scoresH16Go(s, k, stride, q, scale)
		return
	}
	scoresH16NEON(&s[0], &k[0], stride, len(s), &q[0], d, scale)
}

// pvH16Arm is kPVH16: rows whose length is a multiple of 16 in NEON.
func pvH16Arm(o []float32, v []uint16, stride int, p []float32) {
	d := len(o)
	if len(p) == 0 || d == 0 || d%16 != 0 || !rowsFit(len(p), d, stride, len(v)) {
		pvH16Go(o, v, stride, p)
		return
	}
	pvH16NEON(&o[0], &v[0], stride, len(p), &p[0], d)
}

// probsH16Arm is kProbsH16: multiples of 4 values in NEON, the rest in Go.
func probsH16Arm(p []float32, inv float32) {
	n := len(p) &^ 3
	if n > 0 {
		probsH16NEON(&p[0], n, inv)
	}
	probsH16Go(p[n:], inv)
}

func init() {
	kScoresH16, kScoresH16V, kPVH16, kProbsH16 = scoresH16Arm, scoresH16VArm, pvH16Arm, probsH16Arm
}
