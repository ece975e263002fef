// Package tokenizer turns text into token ids and back exactly as llama.cpp
// (v0.5.0, src/llama-vocab.cpp and src/unicode.cpp) does for the same GGUF
// vocabulary, so that prompts evaluated by dayi match llama.cpp's bit for bit.
//
// Supported tokenizer.ggml.model values: "llama" (SentencePiece BPE with
// scores and <0xNN> byte fallback), "gpt2" (byte-level BPE with merges and the
// pre-tokenizer named by tokenizer.ggml.pre), "gemma4" (BPE over raw UTF-8
// with ▁ for spaces), "bert" (WordPiece, with the BertNormalizer's lowercase
// and strip_accents options) and "t5" (SentencePiece unigram with its
// precompiled charsmap normaliser: XLM-RoBERTa vocabularies such as bge-m3
// and nomic-embed-text v2).
//
// Text and ids:
//   - Encode is llama_tokenize(text, add_special, parse_special).
//   - Piece is token_to_piece(id, special=true): the raw rendering of a token,
//     control tokens included, SentencePiece ▁ turned into a space.
//   - TokenBytes is token_to_piece(id, special=false): what a token adds to
//     generated text (control tokens add nothing). It is what a grammar mask
//     and the streaming printer use.
//   - Decode is llama_detokenize(ids, remove_special=false,
//     unparse_special=false): the pieces joined, with the SentencePiece
//     leading space of the first piece removed (only when the sequence does not
//     start with BOS) and the BPE "clean_up_tokenization_spaces" pass where the
//     vocabulary asks for it. Invalid UTF-8 becomes U+FFFD. DecodeSpecial
//     is the same with control tokens rendered (unparse_special=true).
//   - Stream emits each token's TokenBytes as it comes, keeping incomplete
//     UTF-8 sequences back until they complete; it never strips the leading
//     space, so it prints " named" where Decode returns "named", as
//     llama.cpp's own CLI does.
//
// A Tokenizer is immutable after construction and safe for concurrent use.
// It never panics on input: malformed UTF-8 and unknown ids are handled as
// llama.cpp handles them, or replaced where llama.cpp would abort.
package tokenizer
