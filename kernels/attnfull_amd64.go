package kernels

//go:noescape
func scoresT128(s, kt *float32, d int, q *float32, scale float32)

// scoresT128Asm is kScoresT on AVX-512 (attnfull_amd64.s).
func scoresT128Asm(s, kt, q []float32, scale float32) {
	d := len(q)
	if d == 0 || d%8 != 0 || len(s) < fullKB || len(kt) < d*fullKB {
		scoresTGo(s, kt, q, scale)
		return
	}
	scoresT128(&s[0], &kt[0], d, &q[0], scale)
}

//go:noescape
func pvAccZ(o, v *float32, n int, p *float32, d int)

// pvAccAsm is kPVAcc on AVX-512 (attnfull_amd64.s).
func pvAccAsm(o, v, p []float32) {
	d := len(o)
	if len(p) == 0 || d == 0 || d%8 != 0 || len(v) < len(p)*d {
		pvAccGo(o, v, p)
		return
	}
	pvAccZ(&o[0], &v[0], len(p), &p[0], d)
}

func init() {
	if hasZ512 {
		kScoresT, kPVAcc = scoresT128Asm, pvAccAsm
	}
}
