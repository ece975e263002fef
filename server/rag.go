package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"dayi/engine/chat"
)

// Retriever finds passages of a knowledge base for a query (the knowledge
// package implements it). maxTokens is the budget the passages must fit.
type Retriever interface {
	Retrieve(ctx context.Context, kb, query string, maxTokens int) ([]Passage, error)
}

// Passage is one retrieved chunk; ID is its chunk id in the knowledge base.
type Passage struct {
	ID       int
	Source   string
	Title    string
	Location string
	Text     string
}

// Memory recalls and records what was said with a patient (the memory
// package implements it).
type Memory interface {
	Recall(ctx context.Context, patientID, query string, maxTokens int) (string, error)
	Record(ctx context.Context, patientID string, turn Turn) error
}

// Turn is one exchange recorded in patient memory.
type Turn struct {
	User, Assistant string
	Time            time.Time
}

// Citation is returned with answers grounded in a knowledge base: N is the
// [n] the model was told to cite, ChunkID the passage's id.
type Citation struct {
	N        int    `json:"id"`
	Source   string `json:"source"`
	Title    string `json:"title,omitempty"`
	Location string `json:"location,omitempty"`
	ChunkID  int    `json:"chunk_id"`
}

// grounding is the extra system text built from knowledge and memory.
type grounding struct {
	system    string
	citations []Citation
}

// ground retrieves passages and patient memory for query and lays them out
// as system text. count measures tokens with the model's tokenizer (or an
// estimate for fallback models); passages that would overflow budget are
// dropped, so the prompt never silently loses the user's own text.
func (s *Server) ground(ctx context.Context, kb, patientID, query string, budget int, count func(string) int) (*grounding, error) {
	system, cites, err := Ground(ctx, s.cfg.Knowledge, s.cfg.Memory, kb, patientID, query, budget, count)
	if err != nil {
		return nil, err
	}
	return &grounding{system: system, citations: cites}, nil
}

// Ground builds the system text that grounds an answer: the patient's
// recalled memory (a third of budget at most) and numbered knowledge-base
// passages to cite as [n], with their citations. It is the one place both
// the server and `dayi chat` lay grounding out. A nil memory or knowledge
// source with a patient id or KB name asked for is a client error.
func Ground(ctx context.Context, knowledge Retriever, memory Memory, kb, patientID, query string, budget int, count func(string) int) (string, []Citation, error) {
	g := &grounding{}
	var b strings.Builder
	if patientID != "" {
		if memory == nil {
			return "", nil, badRequest("patient_id given but this server has no patient memory configured")
		}
		mem, err := memory.Recall(ctx, patientID, query, budget/3)
		if err != nil {
			return "", nil, fmt.Errorf("patient memory: %w", err)
		}
		if mem = strings.TrimSpace(mem); mem != "" && count(mem) <= budget/3 {
			b.WriteString("Notes from this patient's earlier conversations:\n")
			b.WriteString(mem)
			b.WriteString("\n\n")
		}
	}
	if kb != "" {
		if knowledge == nil {
			return "", nil, badRequest("knowledge base %q requested but this server has no knowledge bases configured", kb)
		}
		left := budget - count(b.String())
		ps, err := knowledge.Retrieve(ctx, kb, query, left)
		if errors.Is(err, fs.ErrNotExist) {
			// Not the library's text: it names the server's directory.
			return "", nil, &reqError{status: http.StatusNotFound, msg: fmt.Sprintf("knowledge base %q not found", kb), param: "knowledge"}
		}
		if err != nil {
			return "", nil, fmt.Errorf("knowledge base %q: %w", kb, err)
		}
		head := "Answer using these numbered sources and cite them as [n]. If they do not contain the answer, say so.\n\n"
		left -= count(head)
		var src strings.Builder
		for _, p := range ps {
			n := len(g.citations) + 1
			entry := fmt.Sprintf("[%d] %s", n, p.Title)
			if p.Location != "" {
				entry += " (" + p.Location + ")"
			}
			entry += "\n" + strings.TrimSpace(p.Text) + "\n\n"
			c := count(entry)
			if c > left {
				continue
			}
			left -= c
			src.WriteString(entry)
			g.citations = append(g.citations, Citation{N: n, Source: p.Source, Title: p.Title, Location: p.Location, ChunkID: p.ID})
		}
		if len(g.citations) > 0 {
			b.WriteString(head)
			b.WriteString(src.String())
		}
	}
	return strings.TrimSpace(b.String()), g.citations, nil
}

// withSystem merges extra system text into a conversation: appended to the
// first system message, or as a new first message.
func withSystem(msgs []chat.Message, extra string) []chat.Message {
	if extra == "" {
		return msgs
	}
	out := make([]chat.Message, 0, len(msgs)+1)
	if len(msgs) > 0 && msgs[0].Role == "system" {
		out = append(out, chat.Message{Role: "system", Content: strings.TrimSpace(msgs[0].Content + "\n\n" + extra)})
		return append(out, msgs[1:]...)
	}
	out = append(out, chat.Message{Role: "system", Content: extra})
	return append(out, msgs...)
}

// lastUser is the retrieval query of a conversation.
func lastUser(msgs []chat.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content
		}
	}
	return ""
}
