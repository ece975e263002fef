package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"dayi/tokenizer"
)

// openTokenizer loads the tokenizer of the model at path ("" = embedded).
func openTokenizer(path string) (*tokenizer.Tokenizer, error) {
	f, err := openModelFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return tok, nil
}

func newTokenizeCmd() *cobra.Command {
	var model string
	var raw, asJSON bool
	cmd := &cobra.Command{
		Use:   "tokenize",
		Short: "Print the token ids of the text on stdin",
		Long: `Reads all of stdin as the text (nothing trimmed, nothing added) and prints its token ids,
separated by single spaces, on one line.

By default it tokenizes as llama.cpp does for the model: BOS/EOS as the model asks and
special-token text such as <|im_start|> parsed as those tokens. --raw adds no BOS/EOS and
tokenizes special-token text as plain text (llama.cpp's test-tokenizer-0 mode).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := openTokenizer(model)
			if err != nil {
				return err
			}
			in, err := io.ReadAll(cmd.InOrStdin())
			if err != nil {
				return fmt.Errorf("reading stdin: %w", err)
			}
			ids := tok.Encode(string(in), !raw, !raw)
			w := cmd.OutOrStdout()
			if asJSON {
				pieces := make([]string, len(ids))
				for i, id := range ids {
					pieces[i] = tok.Piece(id)
				}
				b, err := json.Marshal(struct {
					IDs    []int32  `json:"ids"`
					Pieces []string `json:"pieces"`
				}{ids, pieces})
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(w, "%s\n", b)
				return err
			}
			var sb strings.Builder
			for i, id := range ids {
				if i > 0 {
					sb.WriteByte(' ')
				}
				sb.WriteString(strconv.FormatInt(int64(id), 10))
			}
			sb.WriteByte('\n')
			_, err = io.WriteString(w, sb.String())
			return err
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "GGUF model file (default: the embedded model)")
	cmd.Flags().BoolVar(&raw, "raw", false, "no BOS/EOS, special-token text tokenized as plain text")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ids":[...],"pieces":[...]}`)
	return cmd
}

func newDetokenizeCmd() *cobra.Command {
	var model string
	cmd := &cobra.Command{
		Use:   "detokenize",
		Short: "Print the text of the token ids on stdin",
		Long: `Reads token ids separated by whitespace on stdin and prints their text as llama.cpp's
llama_detokenize does (control tokens print nothing; for SentencePiece vocabularies the
leading space of the first piece is dropped). Nothing is added after the text.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := openTokenizer(model)
			if err != nil {
				return err
			}
			var ids []int32
			sc := bufio.NewScanner(cmd.InOrStdin())
			sc.Buffer(make([]byte, 64*1024), 1<<20)
			sc.Split(bufio.ScanWords)
			for sc.Scan() {
				id, err := strconv.ParseInt(sc.Text(), 10, 32)
				if err != nil || id < 0 || id >= int64(tok.NumTokens()) {
					return fmt.Errorf("token id %q: not in 0..%d", sc.Text(), tok.NumTokens()-1)
				}
				ids = append(ids, int32(id))
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("reading stdin: %w", err)
			}
			_, err = io.WriteString(cmd.OutOrStdout(), tok.Decode(ids))
			return err
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "GGUF model file (default: the embedded model)")
	return cmd
}
