package server

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/format"

	"dayi/engine"
	"dayi/engine/arch"
	"dayi/engine/chat"
	"dayi/weights"
)

// details reads a model's family, size and quantization from its GGUF
// header (cheap: the file is memory-mapped and only the header is parsed),
// through weights.Summarize, the summary `dayi info` and `dayi show` print.
func details(src modelSource) (api.ModelDetails, *weights.File, error) {
	var f *weights.File
	var err error
	if src.Path == "" {
		f, err = openEmbedded()
	} else {
		f, err = weights.Open(src.Path)
	}
	if err != nil {
		return api.ModelDetails{}, nil, err
	}
	sum := weights.Summarize(f, false)
	a := sum.Architecture
	return api.ModelDetails{Format: "gguf", Family: a, Families: []string{a}, ParameterSize: format.HumanNumber(uint64(sum.Parameters)),
		QuantizationLevel: sum.Quantization()}, f, nil
}

func (s *Server) handleTags(w http.ResponseWriter, r *http.Request) {
	var out []api.ListModelResponse
	for _, src := range s.reg.list() {
		d, f, err := details(src)
		if err != nil {
			s.log.Warn("unreadable model skipped", "model", src.Name, "err", err)
			continue
		}
		f.Close()
		out = append(out, api.ListModelResponse{Name: src.Name, Model: src.Name, ModifiedAt: src.Modified, Size: src.Size,
			Digest: strings.TrimPrefix(src.Digest, "sha256:"), Details: d})
	}
	out = append(out, s.fallbackModels(r.Context())...)
	writeJSON(w, http.StatusOK, api.ListResponse{Models: out})
}

func (s *Server) handleShow(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model   string `json:"model"`
		Name    string `json:"name"`
		Verbose bool   `json:"verbose"`
	}
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Model == "" {
		req.Model = req.Name
	}
	info(r).model = canonical(req.Model)
	src, err := s.reg.find(req.Model)
	if err != nil {
		if s.fallback != nil && s.fallback.named(req.Model) {
			resp, err := s.fallback.client.Show(r.Context(), &api.ShowRequest{Model: req.Model, Verbose: req.Verbose})
			if err != nil {
				s.fail(w, r, peerErr(err))
				return
			}
			writeJSON(w, http.StatusOK, resp)
			return
		}
		s.fail(w, r, err)
		return
	}
	d, f, err := details(src)
	if err != nil {
		s.fail(w, r, fmt.Errorf("model %s: %w", src.Name, err))
		return
	}
	defer f.Close()
	mi := map[string]any{}
	for _, kv := range f.KV {
		if kv.Value.Type == weights.ValArray && kv.Value.Len() > 64 && !req.Verbose {
			mi[kv.Key] = nil // as Ollama: long arrays (vocabularies) only when verbose
			continue
		}
		mi[kv.Key] = kv.Value.V
	}
	caps, tmplName := capabilities(f)
	if src.Projector != "" && slices.Contains(caps, "completion") {
		caps = append(caps, "vision") // Ollama's name for a model with a projector
	}
	// FROM names the model, not its file: clients need no server paths
	// (issue 15, finding 10), and `dayi show` prints the path to operators.
	resp := map[string]any{
		"modelfile":    "# Modelfile served by dayi\nFROM " + src.Name + "\n",
		"parameters":   "",
		"template":     tmplName,
		"details":      d,
		"model_info":   mi,
		"capabilities": caps,
		"modified_at":  src.Modified,
	}
	if lic := f.String("general.license", ""); lic != "" {
		resp["license"] = lic
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handlePs(w http.ResponseWriter, r *http.Request) {
	out := []api.ProcessModelResponse{}
	for _, l := range s.reg.psSnapshot() {
		d, f, err := details(l.src)
		if err == nil {
			f.Close()
		}
		exp := l.expires
		if l.refs > 0 || exp.IsZero() {
			exp = time.Now().Add(keepAliveOr(l.keepAlive, s.cfg.KeepAlive))
		}
		out = append(out, api.ProcessModelResponse{Name: l.src.Name, Model: l.src.Name, Size: l.src.Size,
			Digest: strings.TrimPrefix(l.src.Digest, "sha256:"), Details: d, ExpiresAt: exp, ContextLength: l.ctx})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, api.ProcessResponse{Models: out})
}

// keepAliveOr is a model's keep-alive (ka), or the server's default d.
func keepAliveOr(ka, d time.Duration) time.Duration {
	if ka != 0 {
		d = ka
	}
	if d < 0 {
		return 100 * 365 * 24 * time.Hour
	}
	return d
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": s.cfg.Version})
}

func (s *Server) handleCopy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Source      string `json:"source"`
		Destination string `json:"destination"`
	}
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	src, err := s.reg.find(req.Source)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.writable(req.Destination); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.reg.find(req.Destination); err == nil {
		s.fail(w, r, &reqError{status: http.StatusConflict, msg: fmt.Sprintf("model %q already exists", canonical(req.Destination))})
		return
	}
	in, err := openSource(src)
	if err != nil {
		s.fail(w, r, s.modelWriteErr("copy", req.Destination, err))
		return
	}
	defer in.Close()
	_, err = s.cfg.Catalogue.Write(r.Context(), req.Destination, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	}, "copied from "+src.Name, false)
	if err != nil {
		s.fail(w, r, s.modelWriteErr("copy", req.Destination, err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string `json:"model"`
		Name  string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Model == "" {
		req.Model = req.Name
	}
	src, err := s.reg.find(req.Model)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if src.ReadOnly || s.cfg.Catalogue == nil {
		s.fail(w, r, readOnlyErr(src))
		return
	}
	s.reg.unload(src.Name)
	if _, err := s.cfg.Catalogue.Remove(src.Name); err != nil {
		s.fail(w, r, s.modelWriteErr("delete", src.Name, err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleCreate makes a model from a GGUF (from: a known model's name, or a
// file inside an --import-dir directory), optionally quantizing it,
// streaming progress as Ollama does.
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model    string `json:"model"`
		Name     string `json:"name"`
		From     string `json:"from"`
		Quantize string `json:"quantize"`
		Quant    string `json:"quantization"`
		Stream   *bool  `json:"stream"`
	}
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Model == "" {
		req.Model = req.Name
	}
	if req.Quantize == "" {
		req.Quantize = req.Quant
	}
	if req.From == "" {
		s.fail(w, r, badRequest("from is required: an existing model name, or a GGUF file in an import directory (--import-dir)"))
		return
	}
	if err := s.writable(req.Model); err != nil {
		s.fail(w, r, err)
		return
	}
	var ft weights.FileType
	if req.Quantize != "" {
		var ok bool
		if ft, ok = weights.FileTypeByName(req.Quantize); !ok {
			s.fail(w, r, badRequest("quantize %q: want one of %s", req.Quantize, strings.Join(weights.QuantizeFileTypes(), ", ")))
			return
		}
	}
	in, origin, err := s.createSource(req.From)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer in.Close()
	stream := req.Stream == nil || *req.Stream
	st := s.newStreamer(w, "application/x-ndjson")
	status := func(msg string) {
		if stream {
			st.json(map[string]string{"status": msg})
		}
	}
	// Write checks the name before it calls fill, so a bad name is still a
	// plain 400, not an error inside a started stream.
	_, err = s.cfg.Catalogue.Write(r.Context(), req.Model, func(w io.Writer) error {
		status("parsing GGUF")
		if req.Quantize == "" {
			_, err := w.Write(in.Data())
			return err
		}
		status("quantizing to " + ft.CLIName())
		if _, err := weights.Quantize(r.Context(), w, in, ft, weights.QuantizeOptions{}); err != nil {
			return inputErr{err}
		}
		return nil
	}, origin, true)
	if err != nil {
		err = s.modelWriteErr("create", req.Model, err)
		if st.started {
			st.json(ollamaErr{Error: err.Error()})
			return
		}
		w.Header().Del("Content-Type")
		s.fail(w, r, err)
		return
	}
	s.reg.unload(canonical(req.Model)) // an idle older model of that name
	if !stream {
		writeJSON(w, http.StatusOK, map[string]string{"status": "success"})
		return
	}
	status("success")
}

func (s *Server) handlePull(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, &reqError{status: http.StatusNotImplemented,
		msg: "dayi is offline and never downloads models: copy a GGUF file to the models directory, or pull it with Ollama (its store is read here)"})
}

// capabilities are Ollama's names for what the model in f serves, and the
// name of its chat template. Ollama's Model.Capabilities lists "embedding"
// for a GGUF with a pooling type and "completion" otherwise; dayi decides
// by architecture instead: an encoder (bert) embeds and never generates,
// and a reranker (rank pooling) only ranks, through /v1/rerank, for which
// Ollama has no name, so it lists none. A decoder completes, embeds too
// (dayi pools its hidden states) and calls tools when its chat template is
// one dayi knows.
func capabilities(f *weights.File) (caps []string, template string) {
	if arch.IsEncoder(f) {
		if engine.Pooling(f.Int(f.ArchKey("pooling_type"), int64(engine.PoolMean))) == engine.PoolRank {
			return []string{}, ""
		}
		return []string{"embedding"}, ""
	}
	caps = []string{"completion", "embedding"}
	if src := f.String("tokenizer.chat_template", ""); src != "" {
		if t, err := chat.Detect(src); err == nil {
			template = t.Name
			caps = append(caps, "tools")
		}
	}
	return caps, template
}
