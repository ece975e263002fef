package server

import (
	"net/http"
	"strings"
	"testing"

	"dayi/auth"
)

// The web app is served at /ui/ without a key (static files, no data)
// while the API still needs one; browsers opening / are sent to it and
// every other client still reads "Ollama is running"; the Host and Origin
// checks still apply to the app's files.
func TestWebUIMount(t *testing.T) {
	path, keys := keysFile(t, map[string][]auth.Scope{"desk": {auth.Generate}})
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html>app " + r.URL.Path))
	})
	_, hs := authServer(t, Config{KeysFile: path, WebUI: ui})
	noRedirect := *hs.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", hs.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1]
			} else {
				req.Header.Set(hdr[i], hdr[i+1])
			}
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp, b.String()
	}

	// Ollama's CLI and SDKs: no Accept, or */*.
	for _, accept := range []string{"", "*/*", "application/json"} {
		resp, body := get("/", "Accept", accept)
		if resp.StatusCode != 200 || body != "Ollama is running" {
			t.Errorf("GET / Accept %q: %d %q", accept, resp.StatusCode, body)
		}
	}
	// A browser navigating to /.
	resp, _ := get("/", "Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("browser GET /: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The app's files need no key; the API does.
	if resp, body := get("/ui/app.js"); resp.StatusCode != 200 || body != "<!doctype html>app /ui/app.js" {
		t.Errorf("GET /ui/app.js without a key: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get("/api/tags"); resp.StatusCode != 401 {
		t.Errorf("GET /api/tags without a key: %d", resp.StatusCode)
	}
	if resp, _ := get("/api/tags", "Authorization", "Bearer "+keys["desk"]); resp.StatusCode != 200 {
		t.Errorf("GET /api/tags with a key: %d", resp.StatusCode)
	}
	// Only GET: the open route is no way around the key for other methods.
	if st, _, _ := do(t, hs, "POST", "/ui/x", `{"patient_id":"p1"}`); st != 401 && st != 405 {
		t.Errorf("POST /ui/x without a key: %d", st)
	}
	// DNS rebinding: a page at evil.example resolving to loopback does not
	// get the app (nor, then, a same-origin view of the API).
	if resp, _ := get("/ui/", "Host", "evil.example"); resp.StatusCode != 403 {
		t.Errorf("GET /ui/ with Host evil.example: %d", resp.StatusCode)
	}

	// Without a web app the root answers every client with the probe text.
	_, plain := authServer(t, Config{KeysFile: path})
	if st, body, _ := do(t, plain, "GET", "/", "", "Accept", "text/html"); st != 200 || body != "Ollama is running" {
		t.Errorf("no web app, browser GET /: %d %q", st, body)
	}
	if st, _, _ := do(t, plain, "GET", "/ui/", ""); st != 401 && st != 404 {
		t.Errorf("no web app, GET /ui/: %d", st)
	}
}
