package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"dayi/assets"
	"dayi/internal/testref"
	"dayi/weights"
)

// llamaRef is testdata/llama_reference.json: prompts, ids and text that
// llama.cpp v0.5.0 produced (from llama.cpp's stories260K.json and llama-2-tiny-random.json, testdata/reference at the repository root).
type llamaRef struct {
	Source string `json:"source"`
	Vocab  struct {
		BOS int32 `json:"bos"`
		EOS int32 `json:"eos"`
	} `json:"vocab"`
	Cases []struct {
		Prompt        string               `json:"prompt"`
		PromptNoBOS   []int32              `json:"prompt_ids_no_bos"`
		PromptIDs     []int32              `json:"prompt_ids"`
		GeneratedIDs  []int32              `json:"generated_ids"`
		GeneratedText string               `json:"generated_text"`
		TopPieces     [][2]json.RawMessage `json:"top_pieces"`
	} `json:"cases"`
}

func loadRef(t *testing.T, name string) llamaRef {
	t.Helper()
	b, err := os.ReadFile("testdata/llama_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]llamaRef
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	r, ok := all[name]
	if !ok {
		t.Fatalf("no %s in testdata/llama_reference.json", name)
	}
	return r
}

func embeddedTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	f, err := weights.Parse(assets.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// checkAgainstRef compares encoding and decoding with llama.cpp's outputs.
func checkAgainstRef(t *testing.T, tok *Tokenizer, ref llamaRef) {
	if tok.BOS() != ref.Vocab.BOS || tok.EOS() != ref.Vocab.EOS || !tok.AddBOS() {
		t.Errorf("BOS/EOS/AddBOS = %d/%d/%v, llama.cpp %d/%d/true", tok.BOS(), tok.EOS(), tok.AddBOS(), ref.Vocab.BOS, ref.Vocab.EOS)
	}
	for _, c := range ref.Cases {
		if got := tok.Encode(c.Prompt, false, false); !slices.Equal(got, c.PromptNoBOS) && !(len(got) == 0 && len(c.PromptNoBOS) == 0) {
			t.Errorf("Encode(%q, no special) = %v, llama.cpp %v", c.Prompt, got, c.PromptNoBOS)
		}
		if got := tok.Encode(c.Prompt, true, false); !slices.Equal(got, c.PromptIDs) {
			t.Errorf("Encode(%q, add special) = %v, llama.cpp %v", c.Prompt, got, c.PromptIDs)
		}
		// llama.cpp's detokenize of the generated ids (no BOS): the leading
		// space of the first piece is dropped.
		if got := tok.Decode(c.GeneratedIDs); got != c.GeneratedText {
			t.Errorf("Decode(generated after %q) = %q, llama.cpp %q", c.Prompt, got, c.GeneratedText)
		}
		// A streaming printer emits the same text with the leading space kept.
		st := tok.NewStream()
		var streamed string
		for _, id := range c.GeneratedIDs {
			streamed += st.Add(id)
		}
		streamed += st.Flush()
		want := c.GeneratedText
		if len(streamed) > 0 && streamed[0] == ' ' && (len(want) == 0 || want[0] != ' ') {
			want = " " + want
		}
		if streamed != want {
			t.Errorf("stream after %q = %q, want %q", c.Prompt, streamed, want)
		}
		for _, tp := range c.TopPieces {
			var id int32
			var piece string
			if json.Unmarshal(tp[0], &id) != nil || json.Unmarshal(tp[1], &piece) != nil {
				t.Fatalf("bad top_pieces entry %s", tp)
			}
			if got := tok.Decode([]int32{id}); got != piece {
				t.Errorf("Decode([%d]) = %q, llama.cpp %q", id, got, piece)
			}
		}
	}
}

func TestStories260KMatchesLlamaCpp(t *testing.T) {
	tok := embeddedTokenizer(t)
	if tok.Kind() != "llama" || tok.NumTokens() != 512 {
		t.Fatalf("kind %q, %d tokens; want llama, 512", tok.Kind(), tok.NumTokens())
	}
	checkAgainstRef(t, tok, loadRef(t, "stories260K"))
}

func TestLlama2TinyRandomMatchesLlamaCpp(t *testing.T) {
	f, err := weights.Open(testref.File(t, "models", "llama-2-tiny-random.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstRef(t, tok, loadRef(t, "llama-2-tiny-random"))
}
