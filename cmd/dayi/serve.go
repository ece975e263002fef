package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dayi/auth"
	"dayi/engine"
	"dayi/server"
	"dayi/webui"
)

func newServeCmd() *cobra.Command {
	var (
		cfg          server.Config
		keys         []string
		keysFile     string
		apiKeyFiles  []string
		fallbackList string
		auditOpts    auditFlags
		threads      int
		ctxLen       int
		kvType       string
		kv           kvFlags
		spf          specFlags
		backend      string
		cors         []string
		logJSON      bool
		product      productFlags
		modelsDir    string
		createDir    string
		ollamaDir    string
		mmprojs      []string
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

Access: clients send "Authorization: Bearer KEY". Keys made with 'dayi keys add' live in
$DAYI_HOME/keys.json (--keys FILE for another), each with scopes (generate, kb:read, kb:write,
memory, clinic, admin); the server re-reads the file when it changes, so 'dayi keys rm' revokes a
key within seconds. --api-key-file FILE (one key per line, mode 0600), --api-key and DAYI_API_KEYS
give keys with every scope (prefer the file: --api-key shows in ps). No key → 401; a key without
the scope → 403 naming it. A request naming a patient (patient_id) needs the memory scope;
/api/clinic/* needs clinic; create/copy/delete/pull, /api/ps, /metrics and keep_alive < 0 need
admin. With no key configured at all, generation works on loopback as with Ollama, but patient
memory, clinic workflows and administration answer 403; a server whose --addr is not loopback
refuses to start without a key unless --insecure-no-keys. Behind a reverse proxy on the same
machine every client looks like loopback: there pass --require-keys, which refuses to start
without a key and never serves a caller without one, even on loopback.

Browsers: a request whose Host does not name this server (localhost, 127.0.0.0/8, [::1], the
--addr host, each --allowed-host) gets 403, which stops DNS rebinding. Listening on 0.0.0.0 or
[::] accepts this machine's IP addresses; list the DNS names clients use with --allowed-host NAME,
or accept any Host with --allowed-host '*'. A request from a web page (an Origin header) is
refused unless it is same-origin or allowed by --cors-origin, which stops cross-site POSTs.
Clients without an Origin (curl -d, SDKs) are unaffected.

Audit: every request is recorded in $DAYI_HOME/audit/audit.jsonl (--audit FILE for another,
--no-audit for none), sealed with $DAYI_HOME/audit.key; check it with 'dayi audit verify FILE'.
If the log cannot be written the server answers 503 unless --audit-fail-open. A record names the
key used by its name, never the key, and a patient by a keyed hash.

Replicas: --kb-pg, --memory-pg and --audit-pg DSN keep knowledge bases, patient memory and the
audit chain in one PostgreSQL database that several servers behind a load balancer share;
POST /api/kb/NAME/documents (kb:write) adds documents through any of them. See docs/replicas.md
for the keys they must share and the nginx settings streaming needs.

Web app: a browser opening the server's address gets the clinicians' app at /ui/ (chat with
citations, patient memory, triage, EMR notes, admin); its files need no key, its API calls send the
user's key. --no-web-ui turns it off. Its endpoints: GET /api/kb and /api/kb/NAME/chunks/ID
(kb:read), POST /api/kb/NAME/files?filename=F (kb:write), POST /api/memory/items and
/api/memory/forget (memory), GET /api/audit/verify (admin, with --audit).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if env := os.Getenv("DAYI_API_KEYS"); env != "" {
				keys = append(keys, strings.Split(env, ",")...)
			}
			for _, f := range apiKeyFiles {
				ks, err := readAPIKeyFile(f)
				if err != nil {
					return err
				}
				keys = append(keys, ks...)
			}
			cfg.APIKeys = keys
			if keysFile != "" {
				if _, err := auth.Load(keysFile); err != nil { // named explicitly: it must exist
					return fmt.Errorf("--keys: %w", err)
				}
				cfg.KeysFile = keysFile
			} else {
				cfg.KeysFile = defaultKeysFile()
			}
			cfg.Engine = engine.Options{Backend: backend, Threads: threads, ContextLength: ctxLen, KVType: kvType}
			cfg.Engine.PrefixCacheBytes, cfg.NoCtxShift = kv.prefixBytes(), kv.noShift
			sp, closeDraft, err := spf.speculation(cfg.Engine, cfg.Open)
			if err != nil {
				return err
			}
			defer closeDraft()
			cfg.Speculation = sp
			cfg.CORSOrigins = cors
			cfg.Version = version
			if fallbackList != "" {
				cfg.FallbackModels = strings.Split(fallbackList, ",")
			}
			cfg.Catalogue = serveCatalogue(modelsDir, createDir, ollamaDir)
			projectors, err := projectorPairs(mmprojs, cfg.ModelPaths)
			if err != nil {
				return err
			}
			cfg.Projectors = projectors
			if err := checkImportDirs(cfg.ImportDirs); err != nil {
				return err
			}
			var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
			if logJSON {
				h = slog.NewJSONHandler(os.Stderr, nil)
			}
			cfg.Logger = slog.New(h)
			a, err := auditOpts.open(cfg.Logger)
			if err != nil {
				return err
			}
			if a != nil {
				defer a.Close()
				cfg.Audit = a
				if cfg.Extra == nil {
					cfg.Extra = map[string]http.Handler{}
				}
				cfg.Extra["GET /api/audit/verify"] = webui.AuditStatus(auditOpts.verifier()) // the web app's admin page
			}
			cfg.AuditFailOpen = auditOpts.failOpen
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
			if cfg.InsecureNoKeys {
				cfg.Logger.Warn("--insecure-no-keys: if no key is configured, anyone who can reach this server can generate with it", "addr", addr)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			scheme := "http"
			if cfg.TLSCert != "" {
				scheme = "https"
			}
			cfg.Logger.Info("dayi serving", "url", scheme+"://"+ln.Addr().String(), "keys_file", cfg.KeysFile, "plain_keys", len(cfg.APIKeys),
				"audit", cfg.Audit != nil, "fallback", cfg.FallbackOllama)
			return srv.Serve(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	product.register(f)
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:11435", "listen address (host:port)")
	f.StringVar(&modelsDir, "models", "", "directory of *.gguf models (read-only is fine)")
	f.StringArrayVar(&cfg.ModelPaths, "model", nil, "a GGUF model file, served under its file name (repeatable)")
	f.StringArrayVar(&mmprojs, "mmproj", nil, "vision projector: NAME=PATH of an mmproj GGUF, or PATH with one --model (repeatable; a sibling mmproj-*.gguf pairs by itself)")
	f.StringVar(&createDir, "create-dir", "", "where /api/create and /api/copy write models (default $DAYI_HOME/models)")
	f.StringVar(&ollamaDir, "ollama-models", "", "Ollama's model store (default $OLLAMA_MODELS or ~/.ollama/models; - to disable)")
	f.StringArrayVar(&cfg.ImportDirs, "import-dir", nil, "directory /api/create may read GGUF files from (repeatable; default: none)")
	f.DurationVar(&cfg.KeepAlive, "keep-alive", 5*time.Minute, "how long an idle model stays loaded (negative: forever)")
	f.IntVar(&cfg.MaxActive, "max-active", 16, "generations running at once")
	f.IntVar(&cfg.MaxQueued, "max-queued", 64, "generations waiting for a slot before 503")
	f.Int64Var(&cfg.MaxBodyBytes, "max-body", 8<<20, "request body limit in bytes")
	f.IntVar(&cfg.MaxPromptTokens, "max-prompt-tokens", 0, "prompt length limit in tokens (0 = the model's context)")
	f.StringArrayVar(&keys, "api-key", nil, "accepted Bearer key with every scope (repeatable; also DAYI_API_KEYS; visible in ps: prefer --api-key-file)")
	f.StringArrayVar(&apiKeyFiles, "api-key-file", nil, "file of Bearer keys with every scope, one per line, # comments (mode 0600; repeatable)")
	f.StringVar(&keysFile, "keys", "", "keys file of scoped keys made with 'dayi keys add' (default $DAYI_HOME/keys.json)")
	f.StringArrayVar(&cfg.AllowedHosts, "allowed-host", nil, "a Host name clients use to reach this server, besides loopback and --addr (repeatable; * for any)")
	f.BoolVar(&cfg.InsecureNoKeys, "insecure-no-keys", false, "start on a non-loopback --addr with no API key (anyone on the network may generate)")
	f.BoolVar(&cfg.RequireKeys, "require-keys", false, "refuse to start with no API key, and never serve a caller without one, even on loopback (behind a local reverse proxy)")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate (PEM)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key (PEM)")
	f.StringArrayVar(&cors, "cors-origin", nil, "allowed browser origin (repeatable; * for any; default: no CORS)")
	f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "time a client has to send its headers")
	f.DurationVar(&cfg.ReadTimeout, "read-timeout", 60*time.Second, "time a client has to send its whole request")
	auditOpts.register(f)
	f.StringVar(&cfg.FallbackOllama, "fallback-ollama", "", "Ollama server URL for models dayi cannot run")
	f.StringVar(&fallbackList, "fallback-models", "", "comma-separated models always sent to the fallback")
	f.StringVar(&backend, "backend", "", "GoMLX backend (default dayi)")
	f.IntVarP(&threads, "threads", "t", 0, "CPU threads (0 = all cores)")
	f.IntVarP(&ctxLen, "ctx", "c", 0, "context length cap in tokens (0 = each model's)")
	f.StringVar(&cfg.DefaultTemplate, "default-template", "chatml", "chat template for models whose GGUF has none (none: refuse chat)")
	f.StringVar(&kvType, "kv-type", "f16", "KV cache type: f16, f32, q8_0 or q4_0 (q8_0/q4_0: llama.cpp's quantized caches, dayi backend, head size a multiple of 32; no context shift)")
	f.BoolVar(&logJSON, "log-json", false, "JSON logs")
	f.BoolVar(&cfg.Open.NoMmap, "no-mmap", false, "read model files into private memory instead of mapping them")
	f.BoolVar(&cfg.Open.Mlock, "mlock", false, "pin loaded weights in RAM (needs RLIMIT_MEMLOCK to cover the models)")
	addResourceFlags(cmd, &cfg)
	kv.registerCache(cmd)
	kv.registerShift(cmd, false) // per request: options.num_keep, options.shift
	spf.register(cmd)            // every loaded model with the draft's vocabulary speculates
	return cmd
}

// readAPIKeyFile reads --api-key-file: one key per line, blank lines and
// # comments skipped. A file other users may read is refused: it holds the
// keys themselves.
func readAPIKeyFile(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--api-key-file: %w", err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("--api-key-file %s: readable or writable by group or others (mode %04o); run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	if st.Size() > 1<<20 {
		return nil, fmt.Errorf("--api-key-file %s: %d bytes, more than a key file holds", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--api-key-file: %w", err)
	}
	var keys []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("--api-key-file %s: no key in it", path)
	}
	return keys, nil
}
