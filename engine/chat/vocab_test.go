package chat

import (
	"testing"

	"dayi/weights"
)

func readVocabTemplate(t *testing.T, path string) string {
	t.Helper()
	f, err := weights.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return f.String("tokenizer.chat_template", "")
}
