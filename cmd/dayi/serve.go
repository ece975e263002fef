package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dayi/audit"
	"dayi/engine"
	"dayi/server"
)

func newServeCmd() *cobra.Command {
	var (
		cfg          server.Config
		keys         []string
		fallbackList string
		auditPath    string
		auditContent bool
		threads      int
		ctxLen       int
		kvType       string
		backend      string
		cors         []string
		logJSON      bool
		product      productFlags
		modelsDir    string
		createDir    string
		ollamaDir    string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve models over Ollama- and OpenAI-compatible HTTP APIs",
		Long: `Serve models over HTTP with Ollama's API (/api/generate, /api/chat, /api/embed, /api/tags, …)
and OpenAI's (/v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models), so existing
clients work unchanged. Listens on loopback unless --addr says otherwise.

Models: the embedded dayi-tiny, each --model PATH (named by file name without .gguf), then
the same store 'dayi list' shows: dayi's own ($DAYI_HOME/models, or --create-dir), --models DIR
and $DAYI_MODELS_PATH (read-only), and the models already pulled with Ollama (~/.ollama/models
or $OLLAMA_MODELS, read-only). Models load on first use and unload after keep_alive.
/api/create, /api/copy and /api/delete change dayi's store; /api/create reads files only
from --import-dir directories (none by default).

API keys: --api-key (repeatable) or DAYI_API_KEYS (comma-separated); clients send
"Authorization: Bearer KEY". The audit log (--audit FILE) is hash-chained; check it with
'dayi audit verify FILE'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if env := os.Getenv("DAYI_API_KEYS"); env != "" {
				keys = append(keys, strings.Split(env, ",")...)
			}
			cfg.APIKeys = keys
			cfg.Engine = engine.Options{Backend: backend, Threads: threads, ContextLength: ctxLen, KVType: kvType}
			cfg.CORSOrigins = cors
			cfg.Version = version
			if fallbackList != "" {
				cfg.FallbackModels = strings.Split(fallbackList, ",")
			}
			cfg.Catalogue = serveCatalogue(modelsDir, createDir, ollamaDir)
			if err := checkImportDirs(cfg.ImportDirs); err != nil {
				return err
			}
			var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
			if logJSON {
				h = slog.NewJSONHandler(os.Stderr, nil)
			}
			cfg.Logger = slog.New(h)
			if auditPath != "" {
				a, err := audit.Open(auditPath, auditContent)
				if err != nil {
					return err
				}
				defer a.Close()
				cfg.Audit = a
			} else if auditContent {
				return fmt.Errorf("--audit-content needs --audit FILE")
			}
			if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
				return fmt.Errorf("--tls-cert and --tls-key go together")
			}
			closeProduct, err := product.wire(cmd.Context(), &cfg, cfg.Engine)
			if err != nil {
				return err
			}
			defer closeProduct()
			srv, err := server.New(cfg)
			if err != nil {
				return err
			}
			addr := cfg.Addr
			if addr == "" {
				addr = "127.0.0.1:11435"
			}
			host, _, _ := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && len(cfg.APIKeys) == 0 {
				cfg.Logger.Warn("listening beyond loopback without an API key: anyone on the network can use this server", "addr", addr)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			scheme := "http"
			if cfg.TLSCert != "" {
				scheme = "https"
			}
			cfg.Logger.Info("dayi serving", "url", scheme+"://"+ln.Addr().String(), "auth", len(cfg.APIKeys) > 0,
				"audit", auditPath != "", "fallback", cfg.FallbackOllama)
			return srv.Serve(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	product.register(f)
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:11435", "listen address (host:port)")
	f.StringVar(&modelsDir, "models", "", "directory of *.gguf models (read-only is fine)")
	f.StringArrayVar(&cfg.ModelPaths, "model", nil, "a GGUF model file, served under its file name (repeatable)")
	f.StringVar(&createDir, "create-dir", "", "where /api/create and /api/copy write models (default $DAYI_HOME/models)")
	f.StringVar(&ollamaDir, "ollama-models", "", "Ollama's model store (default $OLLAMA_MODELS or ~/.ollama/models; - to disable)")
	f.StringArrayVar(&cfg.ImportDirs, "import-dir", nil, "directory /api/create may read GGUF files from (repeatable; default: none)")
	f.DurationVar(&cfg.KeepAlive, "keep-alive", 5*time.Minute, "how long an idle model stays loaded (negative: forever)")
	f.IntVar(&cfg.MaxActive, "max-active", 16, "generations running at once")
	f.IntVar(&cfg.MaxQueued, "max-queued", 64, "generations waiting for a slot before 503")
	f.Int64Var(&cfg.MaxBodyBytes, "max-body", 8<<20, "request body limit in bytes")
	f.IntVar(&cfg.MaxPromptTokens, "max-prompt-tokens", 0, "prompt length limit in tokens (0 = the model's context)")
	f.StringArrayVar(&keys, "api-key", nil, "accepted Bearer key (repeatable; also DAYI_API_KEYS)")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate (PEM)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key (PEM)")
	f.StringArrayVar(&cors, "cors-origin", nil, "allowed browser origin (repeatable; * for any; default: no CORS)")
	f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "time a client has to send its headers")
	f.DurationVar(&cfg.ReadTimeout, "read-timeout", 60*time.Second, "time a client has to send its whole request")
	f.StringVar(&auditPath, "audit", "", "append-only, hash-chained audit log (JSONL)")
	f.BoolVar(&auditContent, "audit-content", false, "also audit prompt and output text, with PHI redacted")
	f.StringVar(&cfg.FallbackOllama, "fallback-ollama", "", "Ollama server URL for models dayi cannot run")
	f.StringVar(&fallbackList, "fallback-models", "", "comma-separated models always sent to the fallback")
	f.StringVar(&backend, "backend", "", "GoMLX backend (default dayi)")
	f.IntVarP(&threads, "threads", "t", 0, "CPU threads (0 = all cores)")
	f.IntVarP(&ctxLen, "ctx", "c", 0, "context length cap in tokens (0 = each model's)")
	f.StringVar(&cfg.DefaultTemplate, "default-template", "chatml", "chat template for models whose GGUF has none (none: refuse chat)")
	f.StringVar(&kvType, "kv-type", "f16", "KV cache type: f16 or f32")
	f.BoolVar(&logJSON, "log-json", false, "JSON logs")
	f.BoolVar(&cfg.Open.NoMmap, "no-mmap", false, "read model files into private memory instead of mapping them")
	f.BoolVar(&cfg.Open.Mlock, "mlock", false, "pin loaded weights in RAM (needs RLIMIT_MEMLOCK to cover the models)")
	return cmd
}
