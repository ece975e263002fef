package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzBody decodes body as a request would be (through the body limit) and
// parses it; decoders must return errors with 4xx statuses, never panic.
func fuzzBody(t *testing.T, body []byte, v any, parse func() error) {
	r := httptest.NewRequest("POST", "/x", bytes.NewReader(body))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 1<<16)
	err := decode(r, v)
	if err == nil {
		err = parse()
	}
	if err != nil {
		var re *reqError
		if !errors.As(err, &re) || re.status < 400 || re.status >= 500 {
			t.Fatalf("decoder error %v is not a client error", err)
		}
	}
}

var fuzzSeeds = []string{
	``, `{`, `null`, `[]`, `{"model":"dayi-tiny"}`, `{"model":"m","prompt":"hi","options":{"temperature":0.1,"num_predict":5,"stop":["a"]}}`,
	`{"model":"m","options":{"temperature":"x"}}`, `{"model":"m","format":"json"}`, `{"model":"m","format":{"type":"object","properties":{"a":{"type":"integer"}}}}`,
	`{"model":"m","keep_alive":"5m"}`, `{"model":"m","keep_alive":-1}`, `{"model":"m","keep_alive":[]}`, `{"model":"m","context":[1,2,-3]}`,
	`{"model":"m","messages":[{"role":"user","content":"x","images":["aGk="]}]}`, `{"model":"m","messages":[{"role":"USER","content":"x"}],"tools":[{"type":"function"}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"}]}],"n":2}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"enum":[1,"a",null]}}}}`,
	`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{bad"}}]}],"logit_bias":{"12":5,"x":1}}`,
	`{"model":"m","prompt":["a","b"],"stop":"\n","max_tokens":-4}`, `{"model":"m","input":[1,2,3]}`, "{\"model\":\"\u0000\"}",
	// images (images.go): base64, data: URLs, other schemes, markers
	`{"model":"m","prompt":"[img] x","images":["iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABc3UBGAAAAABJRU5ErkJggg=="]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABc3UBGAAAAABJRU5ErkJggg=="}},{"type":"text","text":"?"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":"file:///etc/passwd"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":"<__media__>","images":["data:image/png;base64,AAAA"]}]}`,
}

// decoded also decodes a parsed job's images, as run does after admission.
func decoded(j *job, err error) error {
	if err != nil {
		return err
	}
	s := &Server{pixels: newByteBudget(maxDecodedImageBytes)}
	_, release, err := s.decodeImages(context.Background(), j.images)
	if err == nil {
		release()
		if n := s.pixels.inUse(); n != 0 {
			return fmt.Errorf("%d image bytes still reserved after release", n)
		}
	}
	return err
}

func FuzzGenerateRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req generateRequest
		fuzzBody(t, body, &req, func() error { return decoded(parseGenerate(&req)) })
	})
}

func FuzzChatRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req chatRequest
		fuzzBody(t, body, &req, func() error { return decoded(parseChat(&req)) })
	})
}

func FuzzOpenAIChatRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req oaChatRequest
		fuzzBody(t, body, &req, func() error { return decoded(parseOAChat(&req)) })
	})
}

func FuzzOpenAICompletionRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req oaCompletionRequest
		fuzzBody(t, body, &req, func() error { _, err := parseOACompletion(&req); return err })
	})
}

func FuzzEmbedRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req embedRequest
		fuzzBody(t, body, &req, func() error { _, err := inputs(req.Input); return err })
	})
}
