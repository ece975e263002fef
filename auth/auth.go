// Package auth holds dayi's API keys and their scopes: the keys file
// ($DAYI_HOME/keys.json), the random keys handed to clients, and the
// constant-time lookup the server does on every request.
//
// The file stores only the SHA-256 of each key. A plain hash (not bcrypt or
// argon2) is enough because every key is 256 bits from crypto/rand: a slow
// hash only protects secrets a person could guess, and nobody can guess or
// brute-force 2^256 preimages. A fast hash also lets the server check a key
// on every request without a per-request cost worth an attacker's while (a
// slow hash would turn each bad request into CPU load).
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scope is one permission a key may hold.
type Scope string

// The scopes. A key holds any subset; the server's route table says which
// scope each endpoint and request feature needs.
const (
	Generate Scope = "generate" // generate, chat, completions, embeddings; list and show models
	KBRead   Scope = "kb:read"  // ground answers in a knowledge base (the `knowledge` field)
	KBWrite  Scope = "kb:write" // change knowledge bases
	Memory   Scope = "memory"   // anything naming a patient (`patient_id`, /api/memory*)
	Clinic   Scope = "clinic"   // the /api/clinic/* workflows
	Admin    Scope = "admin"    // create/copy/delete/pull models, ps, metrics, keep_alive < 0
)

// All returns every scope, in a fixed order (a fresh slice each call).
func All() []Scope { return []Scope{Generate, KBRead, KBWrite, Memory, Clinic, Admin} }

// ParseScopes reads scope names (each element may itself be a comma-separated
// list, as `--scope a,b` gives). Unknown names are an error that lists the
// known ones; duplicates are dropped; the result is in All's order.
func ParseScopes(names []string) ([]Scope, error) {
	want := map[Scope]bool{}
	for _, n := range names {
		for _, s := range strings.Split(n, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if !slices.Contains(All(), Scope(s)) {
				return nil, fmt.Errorf("unknown scope %q (known: %s)", s, scopeList(All()))
			}
			want[Scope(s)] = true
		}
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("no scope given (known: %s)", scopeList(All()))
	}
	var out []Scope
	for _, s := range All() {
		if want[s] {
			out = append(out, s)
		}
	}
	return out, nil
}

func scopeList(ss []Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

// Prefix starts every key dayi makes, so a leaked key is easy to find with
// grep or a secret scanner (`dayi_` followed by 43 base64url characters).
const Prefix = "dayi_"

// NewSecret returns a new random key: Prefix and 32 bytes from crypto/rand
// in unpadded base64url.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random key: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Hash is the stored form of a key: hex SHA-256.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Principal is who a request acts as: a key's name and its scopes.
type Principal struct {
	Name   string // the key's name (never the key); "" for an anonymous caller
	Scopes []Scope
}

// Has reports whether p holds scope s.
func (p Principal) Has(s Scope) bool { return slices.Contains(p.Scopes, s) }

// Keyring answers "which key is this?" for the server. It is immutable once
// built, so it can be swapped atomically when the keys file changes.
type Keyring struct {
	entries []entry
}

type entry struct {
	hash [32]byte
	p    Principal
}

// NewKeyring builds a keyring from the keys of a keys file and from plain
// keys (--api-key, --api-key-file, DAYI_API_KEYS), which get every scope and
// are named "api-key-" plus the first 8 hex digits of their hash, so the
// audit log can tell them apart without holding them.
func NewKeyring(keys []Key, plain []string) (*Keyring, error) {
	k := &Keyring{}
	for _, key := range keys {
		h, err := hex.DecodeString(key.Hash)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("key %q: sha256 is not 64 hex digits", key.Name)
		}
		e := entry{p: Principal{Name: key.Name, Scopes: slices.Clone(key.Scopes)}}
		copy(e.hash[:], h)
		k.entries = append(k.entries, e)
	}
	for _, s := range plain {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		sum := sha256.Sum256([]byte(s))
		k.entries = append(k.entries, entry{hash: sum, p: Principal{Name: "api-key-" + hex.EncodeToString(sum[:4]), Scopes: All()}})
	}
	return k, nil
}

// Len is the number of keys; 0 means no key is configured.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.entries)
}

// Lookup finds the key whose hash matches secret's. It compares with every
// key in constant time and picks the match without branching on the data, so
// neither the time taken nor its variation says which key (or how much of
// one) matched. Comparing hashes makes all compared lengths equal.
func (k *Keyring) Lookup(secret string) (Principal, bool) {
	if k == nil || secret == "" {
		return Principal{}, false
	}
	sum := sha256.Sum256([]byte(secret))
	found, idx := 0, 0
	for i := range k.entries {
		eq := subtle.ConstantTimeCompare(sum[:], k.entries[i].hash[:])
		idx = subtle.ConstantTimeSelect(eq&^found, i, idx)
		found |= eq
	}
	if found != 1 {
		return Principal{}, false
	}
	return k.entries[idx].p, true
}

// Key is one entry of the keys file. The key itself is never stored.
type Key struct {
	Name    string    `json:"name"`
	Scopes  []Scope   `json:"scopes"`
	Created time.Time `json:"created"`
	Hash    string    `json:"sha256"` // hex SHA-256 of the key
}
