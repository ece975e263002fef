package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"dayi/clinic"
	"dayi/engine"
	"dayi/knowledge"
	"dayi/memory"
	"dayi/server"
	"dayi/webui"
)

// kbRetriever serves the knowledge bases under $DAYI_HOME/kb to the server.
type kbRetriever struct{ lib *knowledge.Library }

func (r kbRetriever) Retrieve(ctx context.Context, kb, query string, maxTokens int) ([]server.Passage, error) {
	ps, err := r.lib.Retrieve(ctx, kb, query, maxTokens)
	if err != nil {
		return nil, err
	}
	out := make([]server.Passage, len(ps))
	for i, p := range ps {
		out[i] = server.Passage{ID: p.ID, Source: p.Source, Title: p.Title, Location: p.Location, Text: p.Text}
	}
	return out, nil
}

// patientMemory gives the server and the clinical workflows one patient
// memory.
type patientMemory struct{ m *memory.Memory }

func (p patientMemory) Recall(ctx context.Context, patientID, query string, maxTokens int) (string, error) {
	return p.m.Recall(ctx, patientID, query, maxTokens)
}

func (p patientMemory) Record(ctx context.Context, patientID string, t server.Turn) error {
	return p.m.Record(ctx, patientID, memory.Turn{User: t.User, Assistant: t.Assistant, Time: t.Time})
}

// SaveFollowUp stores a follow-up plan as a turn of the patient's history, so
// later visits recall it.
func (p patientMemory) SaveFollowUp(ctx context.Context, patientID string, plan clinic.Plan) error {
	b, err := json.Marshal(plan)
	if err != nil {
		return err
	}
	return p.m.Record(ctx, patientID, memory.Turn{User: "follow-up plan", Assistant: string(b)})
}

// productFlags enable the knowledge bases, patient memory and clinical
// workflows on `dayi serve`.
type productFlags struct {
	noKB        bool
	noMemory    bool
	memoryPG    string
	kbPG        string // PostgreSQL DSN of knowledge bases replicas share
	kbEmbed     string // --kb-embed-model: dense retrieval for the `knowledge` field
	kbRerank    string // --kb-rerank-model: reorders the top 50 retrieved passages
	memoryKey   string
	clinicModel string
	noClinic    bool
	noWebUI     bool
}

// wire adds the product layers to cfg and returns a closer.
func (pf *productFlags) wire(ctx context.Context, cfg *server.Config, eopt engine.Options) (func(), error) {
	closers := []func(){}
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if cfg.Extra == nil {
		cfg.Extra = map[string]http.Handler{}
	}
	if !pf.noKB {
		lib := &knowledge.Library{Dir: filepath.Join(dayiHome(), "kb")}
		if pf.kbPG != "" {
			db, err := knowledge.OpenPG(ctx, pf.kbPG, "")
			if err != nil {
				return nil, err
			}
			closers = append(closers, db.Close)
			lib.PG = db
		}
		if err := useKBModels(&lib.Options, pf.kbEmbed, pf.kbRerank); err != nil {
			closeAll()
			return nil, fmt.Errorf("knowledge: %w", err)
		}
		cfg.Knowledge = kbRetriever{lib: lib}
		if cfg.Extra == nil {
			cfg.Extra = map[string]http.Handler{}
		}
		cfg.Extra["/api/kb/"] = kbHandler{lib: lib}
		(&webui.Knowledge{Lib: lib, FilesDir: filepath.Join(dayiHome(), "kb-files")}).Mount(cfg.Extra)
	}
	if !pf.noWebUI {
		cfg.WebUI = webui.Handler("/ui/")
	}
	var mem *patientMemory
	if !pf.noMemory {
		st, err := openMemoryStore(ctx, pf.memoryPG, pf.memoryKey)
		if err != nil {
			return nil, fmt.Errorf("patient memory: %w", err)
		}
		closers = append(closers, func() { st.Close() })
		mem = &patientMemory{m: memory.New(st, memory.Options{})}
		cfg.Memory = mem
		cfg.Extra["/api/memory/"] = webui.MemoryAPI(mem.m, server.NotePatient)
	}
	if !pf.noClinic {
		mf := modelFlags{model: pf.clinicModel, backend: eopt.Backend, threads: eopt.Threads, ctx: eopt.ContextLength, kvType: eopt.KVType,
			noMmap: cfg.Open.NoMmap, mlock: cfg.Open.Mlock}
		lm, _, err := mf.load()
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("clinic model: %w", err)
		}
		closers = append(closers, func() { lm.File.Close() })
		s := lm.NewScheduler(8, 32)
		closers = append(closers, s.Close)
		deps := clinic.Deps{
			Generate:      s.Generate,
			ContextLength: lm.Ctx,
			CountTokens: func(r *engine.Request) (int, error) {
				ids, _, err := lm.PromptTokens(r)
				return len(ids), err
			},
		}
		if lm.Template == nil {
			deps.Template = "chatml"
		}
		if mem != nil {
			deps.Memory = mem
		}
		cfg.Extra["/api/clinic/"] = clinic.NewHandler(deps)
	}
	return closeAll, nil
}

func (pf *productFlags) register(f interface {
	BoolVar(*bool, string, bool, string)
	StringVar(*string, string, string, string)
}) {
	f.BoolVar(&pf.noKB, "no-knowledge", false, "disable knowledge bases ($DAYI_HOME/kb) for the `knowledge` request field")
	f.BoolVar(&pf.noMemory, "no-memory", false, "disable patient memory for the `patient_id` request field")
	f.StringVar(&pf.memoryPG, "memory-pg", "", "PostgreSQL DSN of a shared patient-memory store (default: embedded under $DAYI_HOME/memory)")
	f.StringVar(&pf.kbPG, "kb-pg", os.Getenv("DAYI_KB_PG"), "PostgreSQL DSN of knowledge bases replicas share, also fed through POST /api/kb/NAME/documents (default $DAYI_KB_PG; none: $DAYI_HOME/kb)")
	f.StringVar(&pf.kbEmbed, "kb-embed-model", "", "GGUF embedding model the knowledge bases were added with (dayi kb add --embed-model): retrieval fuses BM25 with its vectors, and uploads are embedded with it; a knowledge base embedded otherwise is searched by BM25 alone")
	f.StringVar(&pf.kbRerank, "kb-rerank-model", "", "GGUF reranker (e.g. bge-reranker-v2-m3) that reorders the top 50 passages retrieved for the `knowledge` field")
	f.StringVar(&pf.memoryKey, "memory-key", os.Getenv("DAYI_MEMORY_KEY"), memoryKeyUsage)
	f.StringVar(&pf.clinicModel, "clinic-model", "", "GGUF model for /api/clinic/* (default: the embedded dayi-tiny)")
	f.BoolVar(&pf.noClinic, "no-clinic", false, "disable the /api/clinic/* workflows")
	f.BoolVar(&pf.noWebUI, "no-web-ui", false, "do not serve the clinicians' web app at /ui/")
}
