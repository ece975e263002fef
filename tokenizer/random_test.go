package tokenizer

import (
	"encoding/json"
	"os"
	"testing"
)

// TestRandomTextsMatchLlamaCpp tokenizes 120 random mixed-script texts, half
// of them with special-token texts inserted, with every vocabulary and both
// parse_special settings, and compares with llama.cpp (ids count and hash,
// testdata/llamacpp_random.json from testdata/llamacpp_random.mjs).
func TestRandomTextsMatchLlamaCpp(t *testing.T) {
	b, err := os.ReadFile("testdata/llamacpp_random.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Texts  []string              `json:"texts"`
		Expect map[string][][4]int64 `json:"expect"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	hash := func(ids []int32) int64 {
		var h int64
		for _, id := range ids {
			h = (h*31 + int64(id)) % 1000000007
		}
		return h
	}
	for name, exp := range ref.Expect {
		t.Run(name, func(t *testing.T) {
			tok := openVocab(t, name)
			bad := 0
			for i, s := range ref.Texts {
				plain := tok.Encode(s, false, false)
				special := tok.Encode(s, false, true)
				got := [4]int64{int64(len(plain)), hash(plain), int64(len(special)), hash(special)}
				if got != exp[i] {
					bad++
					t.Errorf("text %d %q: (n, hash) plain/special = %v, llama.cpp %v\n  plain %v\n  special %v", i, s, got, exp[i], plain, special)
				}
			}
			t.Logf("%s: %d/%d texts match", name, len(ref.Texts)-bad, len(ref.Texts))
		})
	}
}
