package tokenizer

import "fmt"

type splitter func(cpts []rune, start, end int, emit func(n int))

func (t *Tokenizer) setPre() error { return fmt.Errorf("tokenizer: BPE not implemented yet") }

func (t *Tokenizer) loadMerges(m []string) error { return nil }

type bpeSession struct{ t *Tokenizer }

func (t *Tokenizer) newBPESession() *bpeSession { return &bpeSession{t} }

func (s *bpeSession) encode(text string, out []int32) []int32 { return out }

func (t *Tokenizer) encodeWPM(text string, out []int32) []int32 { return out }
