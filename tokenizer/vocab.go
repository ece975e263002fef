package tokenizer

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"dayi/weights"
)

// TokenType is a GGUF tokenizer.ggml.token_type value.
type TokenType int32

// Token types as stored in GGUF (llama.cpp's enum llama_token_type).
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// Token attributes (llama.cpp's llama_token_attr); several can be set.
const (
	attrUnknown     uint16 = 1 << 0
	attrUnused      uint16 = 1 << 1
	attrNormal      uint16 = 1 << 2
	attrControl     uint16 = 1 << 3
	attrUserDefined uint16 = 1 << 4
	attrByte        uint16 = 1 << 5
	attrLStrip      uint16 = 1 << 7
	attrRStrip      uint16 = 1 << 8
)

// Vocab is the plain data a Tokenizer is built from: the tokenizer.ggml.*
// metadata of a GGUF file, or a small hand-made vocabulary in tests.
type Vocab struct {
	Model  string    // tokenizer.ggml.model: "llama", "gpt2", "gemma4", "bert", "t5"
	Pre    string    // tokenizer.ggml.pre ("" = default)
	Name   string    // general.name (llama.cpp keys per-token strip rules on it)
	Arch   string    // general.architecture
	Tokens []string  // tokenizer.ggml.tokens
	Scores []float32 // tokenizer.ggml.scores (nil = all 0)
	Types  []int32   // tokenizer.ggml.token_type (nil = all normal)
	Merges []string  // tokenizer.ggml.merges, "left right", rank = index
	// IDs holds the special token ids present in the metadata, keyed by the
	// GGUF key suffix before "_token_id": "bos", "eos", "eot", "eom",
	// "unknown", "seperator" (sic), "padding", "mask". Absent keys take the
	// model's default as in llama.cpp.
	IDs map[string]int64
	// Flags holds the boolean keys present in the metadata: "add_bos_token",
	// "add_eos_token", "add_sep_token", "add_space_prefix",
	// "remove_extra_whitespaces", "normalizer.lowercase",
	// "normalizer.strip_accents".
	Flags map[string]bool
	// CharsMap is tokenizer.ggml.precompiled_charsmap, the SentencePiece
	// normaliser of a unigram ("t5") vocabulary; nil means none.
	CharsMap []byte
}

// vocabIDKeys are the tokenizer.ggml.<key>_token_id keys FromGGUF reads.
var vocabIDKeys = []string{"bos", "eos", "eot", "eom", "unknown", "seperator", "padding", "mask"}

// vocabFlagKeys are the boolean tokenizer.ggml.<key> keys FromGGUF reads.
var vocabFlagKeys = []string{"add_bos_token", "add_eos_token", "add_sep_token", "add_space_prefix",
	"remove_extra_whitespaces", "normalizer.lowercase", "normalizer.strip_accents"}

// FromGGUF builds the tokenizer described by f's tokenizer.ggml.* metadata.
func FromGGUF(f *weights.File) (*Tokenizer, error) {
	v := Vocab{
		Model:  f.String("tokenizer.ggml.model", ""),
		Pre:    f.String("tokenizer.ggml.pre", ""),
		Name:   f.String("general.name", ""),
		Arch:   f.Arch(),
		Tokens: f.Strings("tokenizer.ggml.tokens"),
		Merges: f.Strings("tokenizer.ggml.merges"),
		IDs:    map[string]int64{},
		Flags:  map[string]bool{},
	}
	if f.Has("tokenizer.ggml.scores") {
		v.Scores = f.Float32s("tokenizer.ggml.scores")
		if v.Scores == nil {
			if is := f.Int32s("tokenizer.ggml.scores"); is != nil {
				v.Scores = make([]float32, len(is))
				for i, s := range is {
					v.Scores[i] = float32(s)
				}
			} else {
				return nil, fmt.Errorf("tokenizer: %s: tokenizer.ggml.scores is not a float32 or int32 array", f.Path)
			}
		}
	}
	if f.Has("tokenizer.ggml.token_type") {
		if v.Types = f.Int32s("tokenizer.ggml.token_type"); v.Types == nil {
			return nil, fmt.Errorf("tokenizer: %s: tokenizer.ggml.token_type is not an int32 array", f.Path)
		}
	}
	if f.Has("tokenizer.ggml.merges") && v.Merges == nil {
		return nil, fmt.Errorf("tokenizer: %s: tokenizer.ggml.merges is not a string array", f.Path)
	}
	if val, ok := f.Get("tokenizer.ggml.precompiled_charsmap"); ok && v.Model == "t5" {
		// llama.cpp reads it for t5 only, as an int8 or uint8 array.
		switch b := val.V.(type) {
		case []uint8:
			v.CharsMap = b
		case []int8:
			v.CharsMap = make([]byte, len(b))
			for i, c := range b {
				v.CharsMap[i] = byte(c)
			}
		default:
			return nil, fmt.Errorf("tokenizer: %s: tokenizer.ggml.precompiled_charsmap is %s, want an int8 or uint8 array", f.Path, val.Type)
		}
	}
	for _, k := range vocabIDKeys {
		key := "tokenizer.ggml." + k + "_token_id"
		if f.Has(key) {
			// Stored as u32 in practice; 0xFFFFFFFF (stories260K) means "none"
			// and is dropped below as out of range, as llama.cpp does.
			v.IDs[k] = int64(f.Uint(key, 1<<40))
		}
	}
	for _, k := range vocabFlagKeys {
		key := "tokenizer.ggml." + k
		if val, ok := f.Get(key); ok {
			b, isBool := val.V.(bool)
			if !isBool {
				return nil, fmt.Errorf("tokenizer: %s: %s is %s, want bool", f.Path, key, val.Type)
			}
			v.Flags[k] = b
		}
	}
	t, err := New(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return t, nil
}

// kind is the tokenizer algorithm family.
type kind uint8

const (
	kindSPM kind = iota
	kindBPE
	kindWPM
	kindUGM
)

// Tokenizer encodes and decodes text for one vocabulary. It is immutable.
type Tokenizer struct {
	kind  kind
	model string
	pre   string

	text  []string
	score []float32
	attr  []uint16
	ttype []TokenType
	toID  textIndex // text -> id; a later duplicate wins, as in llama.cpp
	// pieceBytes holds every token_to_piece(id, special=true), precomputed
	// back to back: piece i is pieceBytes[pieceOff[i]:pieceOff[i+1]]
	// (Piece and TokenBytes view it; no string header per token).
	pieceBytes []byte
	pieceOff   []uint32

	// BPE
	ranks        map[string]int32 // "left right" -> merge rank
	pairs        *pairIndex       // merges by token ids; nil if some merge side is no token
	splits       []splitter       // pre-tokenizer, applied in order
	byteEncode   bool             // GPT-2 byte-to-unicode mapping of words
	ignoreMerges bool             // whole word is looked up before merging

	bos, eos, eot, eom, unk, sep, pad, mask int32

	addBOS, addEOS, addSep bool
	addSpacePrefix         bool
	escapeWhitespace       bool // replace ' ' with ▁ before BPE (gemma4)
	wpmLower, wpmStrip     bool // WordPiece normalizer: lowercase, strip accents
	cleanSpaces            bool // clean_up_tokenization_spaces when decoding

	eog     []int32     // end-of-generation ids, sorted
	special []int32     // control/user-defined/unknown ids, longest text first
	trie    specialTrie // over the texts of special
	byteTok [256]int32  // token of each byte for byte fallback, -1 if none

	maxTokenLen int
	spmPairs    map[string]struct{} // adjacent character pairs inside tokens (SPM)
	ugm         *ugmModel           // unigram model (UGM)
}

// New builds a Tokenizer from plain vocabulary data.
func New(v Vocab) (*Tokenizer, error) {
	n := len(v.Tokens)
	if n == 0 {
		return nil, fmt.Errorf("tokenizer: no tokens (tokenizer.ggml.tokens)")
	}
	if n > 1<<31-1 {
		return nil, fmt.Errorf("tokenizer: %d tokens is too many", n)
	}
	if v.Scores != nil && len(v.Scores) < n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens (tokenizer.ggml.scores)", len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) < n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens (tokenizer.ggml.token_type)", len(v.Types), n)
	}
	t := &Tokenizer{model: v.Model, pre: v.Pre, eot: -1, eom: -1, byteEncode: true, escapeWhitespace: true}
	// Model defaults: llama_vocab::impl::load.
	switch v.Model {
	case "llama":
		t.kind = kindSPM
		t.bos, t.eos, t.unk, t.sep, t.pad, t.mask = 1, 2, 0, -1, -1, -1
		t.addSpacePrefix, t.addBOS = true, true
	case "bert":
		t.kind = kindWPM
		t.bos, t.eos, t.unk, t.sep, t.pad, t.mask = 101, -1, 100, 102, 0, 103
		t.addBOS, t.addSep, t.cleanSpaces = true, true, true
	case "t5":
		t.kind = kindUGM
		t.bos, t.eos, t.unk, t.sep, t.pad, t.mask = -1, 1, 2, -1, 0, -1
		t.addEOS = true
	case "gpt2", "gemma4":
		t.kind = kindBPE
		if v.Model == "gpt2" {
			t.bos, t.eos, t.unk, t.sep, t.pad, t.mask = 11, 11, -1, -1, -1, -1
		} else {
			t.bos, t.eos, t.unk, t.sep, t.pad, t.mask = -1, -1, -1, -1, -1, -1
			t.pre = "gemma4"
		}
		t.escapeWhitespace = false
		t.cleanSpaces = true
		if err := t.setPre(); err != nil {
			return nil, err
		}
	case "":
		return nil, fmt.Errorf("tokenizer: no tokenizer.ggml.model")
	default:
		return nil, fmt.Errorf("tokenizer: unsupported tokenizer.ggml.model %q", v.Model)
	}
	if b, ok := v.Flags["add_space_prefix"]; ok {
		t.addSpacePrefix = b
	}
	// BertNormalizer options (llama.cpp reads them for every model; only
	// WordPiece uses them here).
	t.wpmLower = true
	if b, ok := v.Flags["normalizer.lowercase"]; ok {
		t.wpmLower = b
	}
	t.wpmStrip = t.wpmLower
	if b, ok := v.Flags["normalizer.strip_accents"]; ok {
		t.wpmStrip = b
	}

	t.text = make([]string, n)
	t.score = make([]float32, n)
	t.attr = make([]uint16, n)
	t.ttype = make([]TokenType, n)
	for i, s := range v.Tokens {
		if s == "" {
			s = fmt.Sprintf("[EMPTY_%d]", i) // llama.cpp renames empty tokens
		}
		t.text[i] = s
		t.maxTokenLen = max(t.maxTokenLen, len(s))
		if v.Scores != nil {
			t.score[i] = v.Scores[i]
		}
		tt := TypeNormal
		if v.Types != nil {
			tt = TokenType(v.Types[i])
		}
		t.ttype[i] = tt
		t.attr[i] = attrOfType(tt)
	}
	t.toID = newTextIndex(t.text)

	if t.kind == kindBPE {
		if err := t.loadMerges(v.Merges); err != nil {
			return nil, err
		}
	}

	// Special ids from the metadata; out-of-range ids are dropped
	// (llama.cpp warns and keeps the default, or disables it).
	ids := map[string]*int32{"bos": &t.bos, "eos": &t.eos, "eot": &t.eot, "eom": &t.eom,
		"unknown": &t.unk, "seperator": &t.sep, "padding": &t.pad, "mask": &t.mask}
	for _, k := range vocabIDKeys {
		p := ids[k]
		if *p >= int32(n) {
			*p = -1
		}
		if id, ok := v.IDs[k]; ok && id >= 0 && id < int64(n) {
			*p = int32(id)
		}
	}
	if b, ok := v.Flags["add_bos_token"]; ok {
		t.addBOS = b
	}
	if b, ok := v.Flags["add_eos_token"]; ok {
		t.addEOS = b
	}
	if b, ok := v.Flags["add_sep_token"]; ok {
		t.addSep = b
	}
	if t.pre == "gemma4" {
		t.addBOS = true // llama.cpp forces BOS for Gemma 4 (PR 21500)
	}
	if t.addBOS && t.bos < 0 || t.addEOS && t.eos < 0 {
		return nil, fmt.Errorf("tokenizer: add_bos_token/add_eos_token is set but the token id is missing")
	}
	if t.kind == kindUGM && t.unk < 0 {
		// llama.cpp would emit the null token for unknown text.
		return nil, fmt.Errorf("tokenizer: t5 (unigram) vocabulary of %d tokens has no unknown token (tokenizer.ggml.unknown_token_id)", n)
	}

	t.detectSpecial()
	t.buildSpecialCache(v)
	t.buildByteTokens()
	if t.kind == kindSPM {
		t.buildSPMPairs()
	}
	if t.kind == kindUGM {
		var err error
		if t.ugm, err = t.newUGM(v.CharsMap, v.Flags["remove_extra_whitespaces"]); err != nil {
			return nil, err
		}
	}
	t.pieceOff = make([]uint32, n+1)
	for i := 0; i < n; i++ {
		t.pieceBytes = t.appendPiece(t.pieceBytes, int32(i))
		if len(t.pieceBytes) > math.MaxUint32 {
			return nil, fmt.Errorf("tokenizer: the pieces of %d tokens exceed 4 GiB", n)
		}
		t.pieceOff[i+1] = uint32(len(t.pieceBytes))
	}
	t.pieceBytes = slices.Clip(t.pieceBytes)
	return t, nil
}

// attrOfType maps a GGUF token type to llama.cpp's attribute bits.
func attrOfType(tt TokenType) uint16 {
	switch tt {
	case TypeUnknown:
		return attrUnknown
	case TypeUnused:
		return attrUnused
	case TypeNormal:
		return attrNormal
	case TypeControl:
		return attrControl
	case TypeUserDefined:
		return attrUserDefined
	case TypeByte:
		return attrByte
	}
	return 0 // undefined
}

// eotTexts are the texts llama.cpp takes as EOT when no eot_token_id is set.
var eotTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}

// eogTexts are the texts llama.cpp adds to the end-of-generation set.
var eogTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
	"<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]",
	"[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
	"<｜end▁of▁sentence｜>", "[e~["}

// fimPadTexts, fimRepTexts and fimSepTexts name the FIM tokens llama.cpp also
// treats as end of generation.
var (
	fimPadTexts = []string{"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}
	fimRepTexts = []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}
	fimSepTexts = []string{"<|file_sep|>"}
)

// detectSpecial reproduces llama.cpp's text-based detection of EOT/EOM/FIM
// tokens, unused tokens and the end-of-generation set.
//
// llama.cpp walks an unordered_map, so when several EOT candidates exist
// the one it picks depends on hashing; we take the highest id, which is what
// it reports for Llama 3 (<|eot_id|> over <|end_of_text|>) and Qwen 2
// (<|im_end|> over <|endoftext|>). Every candidate is end-of-generation
// either way, so only EOT() can differ.
func (t *Tokenizer) detectSpecial() {
	find := func(texts []string) int32 {
		best := int32(-1)
		for _, s := range texts {
			if id, ok := t.toID.get(s); ok && id > best {
				best = id
			}
		}
		return best
	}
	markControl := func(id int32) {
		if id >= 0 {
			t.attr[id] |= attrControl
		}
	}
	if t.eot < 0 {
		t.eot = find(eotTexts)
		markControl(t.eot)
	}
	if t.eom < 0 {
		t.eom = find([]string{"<|eom_id|>"})
		markControl(t.eom)
	}
	// FIM prefix/suffix/middle tokens are also marked control.
	for _, group := range [][]string{
		{"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"},
		{"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"},
		{"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"},
	} {
		markControl(find(group))
	}
	eog := map[int32]bool{}
	for _, group := range [][]string{fimPadTexts, fimRepTexts, fimSepTexts} {
		if id := find(group); id >= 0 {
			markControl(id)
			eog[id] = true
		}
	}
	// Control tokens whose text says "unused" are unused.
	for i, s := range t.text {
		if t.attr[i]&attrControl != 0 && strings.Contains(s, "unused") {
			t.attr[i] |= attrUnused
		}
	}
	for _, s := range eogTexts {
		if id, ok := t.toID.get(s); ok {
			eog[id] = true
			markControl(id)
		}
	}
	// gpt-oss: always rendered.
	for _, s := range []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"} {
		if id, ok := t.toID.get(s); ok {
			t.attr[id] = attrUserDefined
		}
	}
	for _, id := range []int32{t.eos, t.eot, t.eom} {
		if id >= 0 {
			eog[id] = true
		}
	}
	has := func(s string) (int32, bool) {
		id, ok := t.toID.get(s)
		return id, ok && eog[id]
	}
	// o200k_harmony / solar-open: <|end|> is not end of generation there.
	_, ret := has("<|return|>")
	_, call := has("<|call|>")
	_, calls := has("<|calls|>")
	_, flush := has("<|flush|>")
	if end, ok := has("<|end|>"); ok && ((ret && (call || calls)) || ((call || calls) && flush)) {
		delete(eog, end)
		t.attr[end] = attrUserDefined
	}
	// Gemma 4 / paddleocr: </s> is not end of generation there.
	if _, ok := has("<|tool_response>"); ok {
		if s, ok := has("</s>"); ok {
			delete(eog, s)
			t.attr[s] = attrNormal
		}
	}
	for id := range eog {
		t.eog = append(t.eog, id)
	}
	slices.Sort(t.eog)
}

// buildSpecialCache lists the tokens tokenizer_st_partition looks for
// (control, user-defined, unknown), longest text first, and applies the
// per-model lstrip/rstrip attributes.
func (t *Tokenizer) buildSpecialCache(v Vocab) {
	for i := range t.text {
		if t.attr[i]&(attrControl|attrUserDefined|attrUnknown) != 0 {
			t.special = append(t.special, int32(i))
		}
	}
	// llama.cpp uses an unstable sort by length; ties are broken by id here
	// (ties can only matter for overlapping special texts of equal length).
	slices.SortStableFunc(t.special, func(a, b int32) int {
		return cmp.Compare(len(t.text[b]), len(t.text[a]))
	})
	setAttr := func(s string, a uint16, on bool) {
		if id, ok := t.toID.get(s); ok {
			if on {
				t.attr[id] |= a
			} else {
				t.attr[id] &^= a
			}
		}
	}
	name := strings.ToLower(v.Name)
	switch {
	case strings.Contains(v.Pre, "jina-v2-de") || strings.Contains(v.Pre, "jina-v2-es") ||
		strings.Contains(v.Pre, "jina-v2-code") || strings.Contains(v.Arch, "nomic-bert-moe") ||
		strings.Contains(v.Arch, "jina-bert-v3"):
		setAttr("<mask>", attrLStrip, true)
	case strings.Contains(name, "phi-3") || strings.Contains(name, "phi3"):
		for _, id := range t.special {
			t.attr[id] |= attrRStrip
		}
		setAttr("</s>", attrRStrip, true)
		for _, s := range []string{"<unk>", "<s>", "<|endoftext|>"} {
			setAttr(s, attrRStrip, false)
		}
	case strings.Contains(name, "modern-bert"):
		setAttr("[MASK]", attrLStrip, true)
	}
	t.trie = newSpecialTrie(t.text, t.special)
}

// buildByteTokens finds the byte-fallback token of every byte: <0xNN> for
// SentencePiece-style vocabularies, the GPT-2 byte character for byte-level
// BPE (llama.cpp's byte_to_token).
func (t *Tokenizer) buildByteTokens() {
	const hex = "0123456789ABCDEF"
	for b := 0; b < 256; b++ {
		t.byteTok[b] = -1
		switch {
		case t.kind == kindSPM || t.kind == kindUGM || (t.kind == kindBPE && !t.byteEncode):
			if id, ok := t.toID.get(string([]byte{'<', '0', 'x', hex[b>>4], hex[b&15], '>'})); ok {
				t.byteTok[b] = id
			} else if id, ok := t.toID.get(string([]byte{byte(b)})); ok && (t.kind == kindSPM || t.kind == kindUGM) {
				t.byteTok[b] = id
			}
		default:
			if id, ok := t.toID.get(string(appendCpt(nil, byteToRune[b]))); ok {
				t.byteTok[b] = id
			}
		}
	}
}

// NumTokens returns the vocabulary size.
func (t *Tokenizer) NumTokens() int { return len(t.text) }

// Kind returns the tokenizer.ggml.model this tokenizer implements.
func (t *Tokenizer) Kind() string { return t.model }

// Pre returns the BPE pre-tokenizer name ("" for SPM/WPM).
func (t *Tokenizer) Pre() string { return t.pre }

// BOS returns the beginning-of-sequence id, -1 when absent.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the end-of-sequence id, -1 when absent.
func (t *Tokenizer) EOS() int32 { return t.eos }

// EOT returns the end-of-turn id, -1 when absent.
func (t *Tokenizer) EOT() int32 { return t.eot }

// PAD returns the padding id, -1 when absent.
func (t *Tokenizer) PAD() int32 { return t.pad }

// UNK returns the unknown-token id, -1 when absent.
func (t *Tokenizer) UNK() int32 { return t.unk }

// AddBOS reports whether Encode with addSpecial prepends BOS.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// AddEOS reports whether Encode with addSpecial appends EOS.
func (t *Tokenizer) AddEOS() bool { return t.addEOS }

// IsEOG reports whether id ends generation (llama_vocab_is_eog).
func (t *Tokenizer) IsEOG(id int32) bool {
	_, ok := slices.BinarySearch(t.eog, id)
	return ok
}

// EOG returns the end-of-generation ids in increasing order (a copy).
func (t *Tokenizer) EOG() []int32 { return slices.Clone(t.eog) }

// Type returns the GGUF token type of id (TypeUndefined when out of range).
func (t *Tokenizer) Type(id int32) TokenType {
	if id < 0 || int(id) >= len(t.ttype) {
		return TypeUndefined
	}
	return t.ttype[id]
}

// IsControl reports whether llama.cpp treats id as a control token (after
// its text-based overrides), i.e. whether it renders as nothing in TokenBytes.
func (t *Tokenizer) IsControl(id int32) bool {
	return id >= 0 && int(id) < len(t.attr) && t.attr[id]&(attrControl|attrUnknown) != 0
}

// Text returns the token's vocabulary string as stored in the GGUF file.
func (t *Tokenizer) Text(id int32) string {
	if id < 0 || int(id) >= len(t.text) {
		return ""
	}
	return t.text[id]
}

// ID returns the id of the token whose vocabulary string is s.
func (t *Tokenizer) ID(s string) (int32, bool) {
	id, ok := t.toID.get(s)
	return id, ok
}
