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

func init() {
	if hasZ512 {
		kScoresT = scoresT128Asm
	}
}
