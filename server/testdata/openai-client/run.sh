#!/usr/bin/env bash
# Integration test with the official openai npm package (Node >= 20): builds
# dayi, starts `dayi serve` on a free loopback port with an API key, installs
# openai from the npm registry into a temporary directory and runs test.mjs.
# Exits non-zero on failure. Run from anywhere: server/testdata/openai-client/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

(cd "$root" && go build -o "$work/dayi" ./cmd/dayi)
# A bert encoder (engine/testdata/embed/README.md) for the embeddings checks.
"$work/dayi" bench synth --preset tiny-bert --type f32 --seed 7 --vocab-dir "$root/testdata/vocab" -o "$work/tiny-bert.gguf" >/dev/null
cp "$here/package.json" "$here/test.mjs" "$work/"
(cd "$work" && npm install --no-audit --no-fund --loglevel=error >/dev/null)

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18436)"
key="test-key-$$"
DAYI_HOME="$work/home" "$work/dayi" serve --addr "127.0.0.1:$port" --api-key "$key" --ollama-models - --model "$work/tiny-bert.gguf" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
if ! (cd "$work" && DAYI_URL="http://127.0.0.1:$port/v1" DAYI_KEY="$key" DAYI_BERT_REF="$root/engine/testdata/embed/tiny-bert-fa.json" node test.mjs); then
  echo "--- dayi serve log ---" >&2
  cat "$work/serve.log" >&2
  exit 1
fi
