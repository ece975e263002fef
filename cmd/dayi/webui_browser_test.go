package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"dayi/audit"
	"dayi/auth"
	"dayi/engine"
	"dayi/knowledge"
	"dayi/server"
	"dayi/webui"
)

var updateScreenshots = flag.Bool("update", false, "rewrite docs/screenshots/*.png from the browser test")

// findChromium is the browser the test drives, or "" when none is installed.
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// uiServer is `dayi serve` as the serve command wires it (knowledge bases,
// patient memory, clinic workflows, the web app), on loopback with a keys
// file, with a knowledge base and one patient's history made beforehand.
type uiServer struct {
	url  string
	keys map[string]string
	cfg  server.Config
}

func startUIServer(t *testing.T) *uiServer { return startUIServerKeys(t, true) }

func startUIServerKeys(t *testing.T, withKeys bool) *uiServer {
	t.Helper()
	home := t.TempDir()
	t.Setenv("DAYI_HOME", home)
	ctx := context.Background()
	doc := filepath.Join(t.TempDir(), "chest-pain-guideline.md")
	if err := os.WriteFile(doc, []byte("# Chest pain\n\nAdults with chest pain and sweating need an ECG within 10 minutes of arrival.\n\n"+
		"# Headache\n\nA sudden worst headache of life needs a CT scan of the head.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := &knowledge.Library{Dir: filepath.Join(home, "kb")}
	kb, err := lib.Open("guide")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kb.Add(ctx, []string{doc}); err != nil {
		t.Fatal(err)
	}
	kb.Close()

	keysPath := filepath.Join(home, auth.FileName)
	kf := &auth.File{}
	u := &uiServer{keys: map[string]string{}}
	for name, scopes := range map[string][]auth.Scope{"dr-li": auth.All(), "front-desk": {auth.Generate}} {
		k, err := kf.Add(name, scopes, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		u.keys[name] = k
	}
	if !withKeys {
		keysPath = filepath.Join(home, "no-keys.json") // missing: no keys yet
	} else if err := auth.Save(keysPath, kf); err != nil {
		t.Fatal(err)
	}

	u.cfg = server.Config{Addr: "127.0.0.1:0", KeysFile: keysPath,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// the audit log as serve wires it with --audit
	auditPath := filepath.Join(home, "audit.jsonl")
	af := auditFlags{path: auditPath, keyPath: filepath.Join(home, "audit.key")}
	al, err := af.open(u.cfg.Logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	u.cfg.Audit = al
	u.cfg.Extra = map[string]http.Handler{"GET /api/audit/verify": webui.AuditStatus(af.verifier())}
	var pf productFlags
	closeAll, err := pf.wire(ctx, &u.cfg, engine.Options{Backend: "dayi"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeAll)
	for _, turn := range []server.Turn{
		{User: "I am allergic to penicillin.", Time: time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)},
		{User: "I take metformin 500 mg twice daily.", Time: time.Date(2025, 4, 12, 10, 0, 0, 0, time.UTC)},
	} {
		if err := u.cfg.Memory.Record(ctx, "P-1001", turn); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := server.New(u.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { srv.Serve(sctx, ln); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	u.url = "http://" + ln.Addr().String()
	return u
}

// browser starts headless Chromium for the test, recording every request the
// page makes and every script error or CSP report it logs.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	problems []string
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	exe := findChromium()
	if exe == "" {
		if os.Getenv("DAYI_REQUIRE_BROWSER") == "1" {
			t.Fatal("DAYI_REQUIRE_BROWSER=1 but no chromium is installed (apt-get install chromium)")
		}
		t.Skip("no chromium installed: the web app's browser test needs it (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 720), chromedp.Flag("lang", "en-US"), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tctx, cancelT := context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(func() { cancelT(); cancel(); cancelA() })
	b := &browser{ctx: tctx}
	if err := chromedp.Do(tctx); err != nil { // start the browser and its tab
		t.Fatalf("starting chromium: %v", err)
	}
	err := chromedp.Listen(tctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.problems = append(b.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError && !strings.Contains(e.Entry.Text, "status of 40") {
				b.problems = append(b.problems, "log: "+e.Entry.Text)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do runs actions, each sequence within 3 minutes: an action waiting for an
// element that never shows (Click waits for visibility) fails the test
// instead of using up the browser's whole context.
func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval runs a JavaScript expression in the page (DevTools evaluation is not
// subject to the page's CSP; the app's own code is).
func jsEval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript condition until it holds.
func (b *browser) wait(t *testing.T, what, cond string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			shot, _ := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
			p := filepath.Join(os.TempDir(), "dayi-webui-failed.png") // outlives the test's temp dirs
			os.WriteFile(p, shot, 0o644)
			state, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`'error banner: ' + (document.getElementById('error').hidden ? '(none)' : document.getElementById('error-text').textContent) + '; dialog open: ' + document.getElementById('confirm').open`))
			body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.querySelector('main').innerText"))
			// The server runs in this process: its goroutines say where a
			// request that never answered is stuck.
			stacks := make([]byte, 1<<20)
			stacks = stacks[:goruntime.Stack(stacks, true)]
			sp := filepath.Join(os.TempDir(), "dayi-webui-failed-goroutines.txt")
			os.WriteFile(sp, stacks, 0o644)
			t.Fatalf("waiting for %s (%s): %v; %s; page: %.600s; screenshot %s; goroutines %s", what, cond, err, state, body, p, sp)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	if !*updateScreenshots {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// noOverflow checks that no screen scrolls sideways at the current size.
func (b *browser) noOverflow(t *testing.T, where string) {
	t.Helper()
	for _, s := range []string{"chat", "patient", "triage", "emr", "admin"} {
		b.do(t, chromedp.Click(chromedp.CSS(`#nav button[data-screen="`+s+`"]`)))
		b.wait(t, s+" shown", `!document.getElementById('screen-`+s+`').hidden`, 10*time.Second)
		if w := jsEval[[]int](t, b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
			t.Errorf("%s, %s screen: page is %dpx wide in a %dpx window", where, s, w[0], w[1])
		}
	}
}

// netConditions are the parameters of Network.emulateNetworkConditions,
// which the Chromium of Debian 12 takes (its ...ByRule successor's shape
// changed between versions).
type netConditions struct {
	Offline  bool    `json:"offline"`
	Latency  float64 `json:"latency"`
	Download float64 `json:"downloadThroughput"`
	Upload   float64 `json:"uploadThroughput"`
}

// throttle limits what the page downloads to bytesPerSec (-1: no limit).
func throttle(t *testing.T, b *browser, bytesPerSec float64) {
	t.Helper()
	cmd := cdp.Command[netConditions, cdp.Empty]{Method: "Network.emulateNetworkConditions"}
	if _, err := chromedp.Call(b.ctx, cmd, netConditions{Download: bytesPerSec, Upload: -1}); err != nil {
		t.Fatalf("throttling the network: %v", err)
	}
}

// The clinicians' web app in a real browser against dayi serve with the
// embedded model: sign in with a key, stream a chat answer and stop it, open
// a citation of a knowledge base, triage an emergency and a negated
// complaint, write an EMR note and a follow-up plan, forget a patient's
// item, add a document to a knowledge base, see a missing scope named, and
// check that the page never asked anything of another origin and broke no
// CSP rule. Run with -update to rewrite docs/screenshots/.
func TestWebUIBrowser(t *testing.T) {
	b := startBrowser(t)
	u := startUIServer(t)
	const long = 3 * time.Minute // generous: CI machines may be loaded

	// A browser opening the server's root lands on the app, which asks for
	// a key because the server requires one.
	b.do(t, chromedp.EmulateViewport(1280, 720), chromedp.Navigate(u.url+"/"))
	b.wait(t, "the login screen", `!document.getElementById('screen-login').hidden`, long)
	if loc := jsEval[string](t, b, "location.pathname"); loc != "/ui/" {
		t.Errorf("root redirected to %q, want /ui/", loc)
	}
	// keyboard: the key field has the focus, and Enter signs in
	if id := jsEval[string](t, b, "document.activeElement.id"); id != "login-key" {
		t.Errorf("the login screen focuses %q, want the key field", id)
	}
	b.do(t, chromedp.KeyEvent("dayi_not-a-key\r"))
	b.wait(t, "a refused key", `!document.getElementById('error').hidden && document.getElementById('screen-chat').hidden`, long)
	b.screenshot(t, "login")
	b.do(t, chromedp.SendKeys(chromedp.ID("login-key"), u.keys["dr-li"]), chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
	b.wait(t, "the chat screen", `!document.getElementById('screen-chat').hidden && document.querySelector('#chat-model option[value="dayi-tiny"]')`, long)
	if got := jsEval[string](t, b, "sessionStorage.getItem('dayi.key')"); got != u.keys["dr-li"] {
		t.Error("the key is not kept in sessionStorage")
	}
	b.wait(t, "the knowledge bases", `document.querySelector('#chat-kb option[value="guide"]')`, long)
	b.do(t, chromedp.SetValue(chromedp.ID("chat-kb"), "guide"))

	// Stream an answer slowly (the network throttled to 60 bytes/s) and stop it.
	throttle(t, b, 60)
	b.do(t, chromedp.SendKeys(chromedp.ID("chat-input"), "Once upon a time"), chromedp.Click(chromedp.ID("chat-send")))
	b.wait(t, "streaming", `!document.getElementById('chat-stop').disabled && document.querySelector('.msg.assistant .body').textContent.length > 0`, long)
	partial := jsEval[string](t, b, `document.querySelector('.msg.assistant .body').textContent`)
	b.do(t, chromedp.Click(chromedp.ID("chat-stop")))
	b.wait(t, "the stop", `document.querySelector('.msg.assistant .status.stopped') && !document.getElementById('chat-send').disabled`, long)
	if partial == "" {
		t.Error("nothing streamed before the stop")
	}
	throttle(t, b, -1)

	// A grounded answer lists its sources; [1] opens the cited passage.
	b.do(t, chromedp.Click(chromedp.ID("chat-new")))
	b.do(t, chromedp.SendKeys(chromedp.ID("chat-input"), "When does a patient with chest pain and sweating need an ECG?"), chromedp.Click(chromedp.ID("chat-send")))
	b.wait(t, "a cited answer", `document.querySelector('.msg.assistant .cites .cite') && !document.getElementById('chat-send').disabled`, long)
	b.do(t, chromedp.Click(chromedp.CSS(`.msg.assistant .cites .cite`)))
	b.wait(t, "the cited passage", `!document.getElementById('passage').hidden && document.getElementById('passage-text').textContent.includes('ECG within 10 minutes')`, long)
	if src := jsEval[string](t, b, `document.getElementById('passage-source').textContent`); !strings.Contains(src, "chest-pain-guideline.md") || strings.Contains(src, "/") {
		t.Errorf("passage source %q: want the document's name only", src)
	}
	b.screenshot(t, "chat")

	// Triage: an emergency shows its fixed advice first, in red.
	b.do(t, chromedp.Click(chromedp.CSS(`#nav button[data-screen="triage"]`)))
	b.do(t, chromedp.SendKeys(chromedp.ID("triage-input"), "Crushing CHEST pain radiating to my left arm, and I am Sweating"),
		chromedp.Click(chromedp.CSS(`#triage-form button[type=submit]`)))
	b.wait(t, "the emergency", `!document.getElementById('triage-emergency').hidden && document.getElementById('triage-advice').textContent.length > 10`, long)
	if got := jsEval[[]string](t, b, `[document.getElementById('triage-urgency').className, document.getElementById('triage-flags').textContent,
		getComputedStyle(document.getElementById('triage-emergency')).color,
		String(document.getElementById('triage-emergency').compareDocumentPosition(document.querySelector('#triage-result .facts')) & Node.DOCUMENT_POSITION_FOLLOWING)]`); got[0] != "badge emergency" || got[1] == "None" || got[2] != "rgb(179, 38, 30)" || got[3] == "0" {
		t.Errorf("emergency triage shown as %q", got)
	}
	// The marks are on the words as typed (the rules read lower case), and
	// the text around them is the complaint itself.
	if marks := jsEval[[]string](t, b, `[...document.querySelectorAll('#triage-text mark.redflag')].map(m => m.textContent)`); len(marks) < 2 || !strings.Contains(strings.Join(marks, " "), "CHEST") || !slices.Contains(marks, "Sweating") {
		t.Errorf("red flags highlighted in the complaint: %q, want CHEST and Sweating as typed", marks)
	}
	if text := jsEval[string](t, b, `document.getElementById('triage-text').textContent`); text != "Crushing CHEST pain radiating to my left arm, and I am Sweating" {
		t.Errorf("the highlighted complaint reads %q, want the text as typed", text)
	}
	// Red flags are named by their rules' titles, not by rule IDs.
	if flags := jsEval[string](t, b, `document.getElementById('triage-flags').textContent`); !strings.Contains(flags, "possible heart attack") || strings.Contains(flags, "chest pain cardiac") {
		t.Errorf("red flags shown as %q, want the rule's English title", flags)
	}
	b.screenshot(t, "triage")
	// A negated complaint is not an emergency.
	jsEval[chromedp.Void](t, b, `document.getElementById('triage-input').value = ''`)
	b.do(t, chromedp.SendKeys(chromedp.ID("triage-input"), "No chest pain. A mild cough for three days."),
		chromedp.Click(chromedp.CSS(`#triage-form button[type=submit]`)))
	b.wait(t, "the negated complaint", `document.getElementById('triage-emergency').hidden && document.getElementById('triage-text').textContent.startsWith('No chest pain')`, long)
	if cls := jsEval[string](t, b, `document.getElementById('triage-urgency').className + document.querySelectorAll('#triage-text mark').length`); cls != "badge routine0" {
		t.Errorf("negated complaint triaged as %q, want routine with nothing marked", cls)
	}

	// EMR: a SOAP note from a transcript, editable, marked as a draft, and a follow-up plan.
	b.do(t, chromedp.Click(chromedp.CSS(`#nav button[data-screen="emr"]`)))
	// Guided intake: a red flag in any answer ends it with the fixed advice;
	// a full one becomes the transcript.
	b.do(t, chromedp.Click(chromedp.CSS(`#intake summary`)))
	b.wait(t, "the first intake question", `document.getElementById('intake-question').textContent.length > 5`, long)
	answer := func(a string) {
		t.Helper()
		n := jsEval[int](t, b, `document.querySelectorAll('#intake-qa li').length`)
		b.do(t, chromedp.SendKeys(chromedp.ID("intake-answer"), a), chromedp.Click(chromedp.CSS(`#intake-form button[type=submit]`)))
		b.wait(t, "the next intake step", fmt.Sprintf(`document.querySelectorAll('#intake-qa li').length === %d`, n+1), long)
	}
	answer("Crushing chest pain and I am sweating")
	b.wait(t, "the intake emergency", `!document.getElementById('intake-emergency').hidden && document.getElementById('intake-form').hidden && document.getElementById('intake-advice').textContent.length > 10`, long)
	b.do(t, chromedp.Click(chromedp.ID("intake-restart")))
	b.wait(t, "a new intake", `!document.getElementById('intake-form').hidden && document.getElementById('intake-emergency').hidden && !document.querySelector('#intake-qa li')`, long)
	for _, a := range []string{"A cough", "Two weeks ago, getting worse", "Dry cough, worse at night", "None", "Penicillin", "Asthma as a child"} {
		answer(a)
	}
	b.wait(t, "the intake's end", `!document.getElementById('intake-done').hidden && document.getElementById('intake-form').hidden`, long)
	b.do(t, chromedp.Click(chromedp.ID("intake-use")))
	if got := jsEval[string](t, b, `document.getElementById('emr-input').value`); !strings.Contains(got, "A: A cough") || !strings.Contains(got, "A: Penicillin") {
		t.Errorf("intake as transcript: %q", got)
	}
	jsEval[chromedp.Void](t, b, `document.getElementById('intake').open = false; document.getElementById('emr-input').value = ''`)
	b.do(t, chromedp.SendKeys(chromedp.ID("emr-input"), "Doctor: What brings you in?\nPatient: A cough for two weeks, worse at night. I take no medicines. No allergies.\nDoctor: Lungs are clear. Temperature 37.2."),
		chromedp.Click(chromedp.ID("emr-submit")))
	b.wait(t, "the EMR note", `!document.getElementById('emr-result').hidden && document.getElementById('soap-subjective-chief_complaint') && document.getElementById('soap-plan-treatment')`, 3*time.Minute)
	b.do(t, chromedp.Click(chromedp.CSS(`#fu-form button[type=submit]`)))
	b.wait(t, "the follow-up plan", `!document.getElementById('fu-table').hidden && document.querySelectorAll('#fu-table tbody tr').length > 0`, long)
	if d := jsEval[string](t, b, `document.querySelector('#fu-table tbody td').textContent`); len(d) != 10 || d[4] != '-' {
		t.Errorf("follow-up date %q", d)
	}
	jsEval[chromedp.Void](t, b, `document.getElementById('emr-result').scrollIntoView()`)
	b.screenshot(t, "emr")

	// Patient memory: see it with dates, forget one conversation, keep the rest.
	b.do(t, chromedp.Click(chromedp.CSS(`#nav button[data-screen="patient"]`)))
	b.do(t, chromedp.SendKeys(chromedp.ID("patient-id"), "P-1001"), chromedp.Click(chromedp.CSS(`#patient-form button[type=submit]`)))
	b.wait(t, "the patient's memory", `document.getElementById('patient-view').textContent.includes('penicillin') && document.getElementById('patient-turns').textContent.includes('2025-03-01')`, long)
	b.screenshot(t, "patient")
	b.do(t, chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('#patient-turns li')].find(li => li.textContent.includes('penicillin')).querySelector('button')`)))
	b.wait(t, "the confirmation", `document.getElementById('confirm').open`, long)
	b.do(t, chromedp.Click(chromedp.ID("confirm-ok")))
	b.wait(t, "the forgotten item gone", `!document.getElementById('patient-view').textContent.includes('penicillin') && document.getElementById('patient-view').textContent.includes('metformin')`, long)
	recall, err := u.cfg.Memory.Recall(context.Background(), "P-1001", "allergies", 500)
	if err != nil || strings.Contains(recall, "penicillin") || !strings.Contains(recall, "metformin") {
		t.Errorf("after forgetting in the browser the server recalls %q (%v)", recall, err)
	}

	// A chat about this patient is recorded in the patient's memory; then
	// forget everything, confirmed.
	b.do(t, chromedp.Click(chromedp.ID("patient-chat")))
	b.wait(t, "the chat about the patient", `!document.getElementById('chat-patient').hidden && document.getElementById('chat-patient-id').textContent === 'P-1001'`, long)
	b.do(t, chromedp.SendKeys(chromedp.ID("chat-input"), "Any new allergies since last visit?"), chromedp.Click(chromedp.ID("chat-send")))
	b.wait(t, "the answer", `document.querySelector('.msg.assistant:last-child .body').textContent.length > 0 && !document.getElementById('chat-send').disabled`, long)
	b.do(t, chromedp.Click(chromedp.CSS(`#nav button[data-screen="patient"]`)), chromedp.Click(chromedp.CSS(`#patient-form button[type=submit]`)))
	b.wait(t, "the chat in the patient's memory", `document.getElementById('patient-turns').textContent.includes('Any new allergies since last visit?')`, long)
	b.do(t, chromedp.Click(chromedp.ID("patient-forget-all")))
	b.wait(t, "the confirmation", `document.getElementById('confirm').open && document.getElementById('confirm-text').textContent.includes('P-1001')`, long)
	b.do(t, chromedp.Click(chromedp.CSS(`#confirm button[value=cancel]`)))
	b.wait(t, "the cancel", `!document.getElementById('confirm').open`, long)
	if got, _ := u.cfg.Memory.Recall(context.Background(), "P-1001", "", 500); !strings.Contains(got, "metformin") {
		t.Fatalf("cancelled forget-all forgot: %q", got)
	}
	b.do(t, chromedp.Click(chromedp.ID("patient-forget-all")))
	b.wait(t, "the confirmation", `document.getElementById('confirm').open`, long)
	b.do(t, chromedp.Click(chromedp.ID("confirm-ok")))
	b.wait(t, "the confirmed dialog closed", `!document.getElementById('confirm').open`, long)
	b.wait(t, "everything forgotten", `!document.getElementById('patient-empty').hidden && !document.getElementById('patient-turns').textContent`, long)
	if got, err := u.cfg.Memory.Recall(context.Background(), "P-1001", "", 500); err != nil || got != "" {
		t.Errorf("after forgetting everything the server recalls %q (%v)", got, err)
	}
	auditLog, _ := os.ReadFile(filepath.Join(os.Getenv("DAYI_HOME"), "audit.jsonl"))
	auditKey, err := audit.LoadKey(filepath.Join(os.Getenv("DAYI_HOME"), "audit.key"), false)
	if err != nil {
		t.Fatal(err)
	}
	// The audit log names a patient only by its keyed hash, never in clear.
	patientRef := `"patient_hash":"` + auditKey.PatientHash("P-1001") + `"`
	memoryAudited := 0
	for _, line := range strings.Split(string(auditLog), "\n") {
		if strings.Contains(line, "P-1001") {
			t.Fatalf("the audit log holds a patient id in clear: %s", line)
		}
		if strings.Contains(line, `"endpoint":"/api/memory/"`) && strings.Contains(line, patientRef) {
			memoryAudited++
		}
	}
	if memoryAudited < 4 { // shown three times, forgotten twice
		t.Errorf("the audit log records %d memory requests naming their patient, want at least 4", memoryAudited)
	}

	// Admin: loaded models, knowledge bases, and a document added by upload.
	upDir := t.TempDir()
	upload, upload2 := filepath.Join(upDir, "sepsis.md"), filepath.Join(upDir, "stroke.txt")
	os.WriteFile(upload, []byte("# Sepsis\n\nGive antibiotics within one hour of recognising sepsis.\n"), 0o644)
	os.WriteFile(upload2, []byte("Stroke: call the stroke team; note the time the symptoms began.\n"), 0o644)
	b.do(t, chromedp.Click(chromedp.CSS(`#nav button[data-screen="admin"]`)))
	b.wait(t, "the admin tables", `document.querySelector('#admin-kbs tbody').textContent.includes('guide') && document.querySelector('#admin-models tbody').textContent.includes('dayi-tiny')`, long)
	b.wait(t, "the audit check", `/^Intact: [1-9][0-9]* records/.test(document.getElementById('admin-audit').textContent)`, long)
	// While the files are ingested the region is aria-busy with a progress
	// bar; an observer records that, since the upload may finish quickly.
	jsEval[chromedp.Void](t, b, `window.__busy = [];
		new MutationObserver(() => { const g = document.getElementById('kb-ingest'), bar = document.getElementById('kb-bar');
			if (g.getAttribute('aria-busy') === 'true') window.__busy.push((bar.hidden ? 'hidden' : 'shown') + ' ' + bar.value + '/' + bar.max); })
		.observe(document.getElementById('kb-ingest'), { attributes: true, subtree: true, childList: true })`)
	b.do(t, chromedp.SendKeys(chromedp.ID("kb-name"), "protocols"), chromedp.SetUploadFiles(chromedp.ID("kb-file"), []string{upload, upload2}),
		chromedp.Click(chromedp.CSS(`#kb-upload button[type=submit]`)))
	b.wait(t, "the upload", `document.querySelector('#admin-kbs tbody').textContent.includes('protocols') && document.getElementById('kb-ingest').getAttribute('aria-busy') === 'false'`, long)
	if got := jsEval[[]string](t, b, `[...document.querySelectorAll('#kb-results li')].map(li => li.textContent)
		.concat([document.getElementById('kb-progress').textContent, document.getElementById('kb-bar').value + '/' + document.getElementById('kb-bar').max,
			document.getElementById('kb-bar').getAttribute('role'), String(window.__busy.some(s => s.startsWith('shown')))])`); len(got) != 6 ||
		!strings.HasPrefix(got[0], "sepsis.md: ") || !strings.HasPrefix(got[1], "stroke.txt: ") || !strings.Contains(got[0], "passages indexed") ||
		got[2] != "2 of 2 files added to protocols." || got[3] != "2/2" || got[4] != "progressbar" || got[5] != "true" {
		t.Errorf("upload progress and results: %q", got)
	}
	b.screenshot(t, "admin")
	ps, err := (&knowledge.Library{Dir: filepath.Join(os.Getenv("DAYI_HOME"), "kb")}).Retrieve(context.Background(), "protocols", "antibiotics sepsis", 0)
	if err != nil || len(ps) == 0 {
		t.Errorf("uploaded document not searchable: %v %v", err, ps)
	}

	// Layout: a tablet, and 1280×720 at 200 % zoom (a 640 px wide viewport).
	b.do(t, chromedp.EmulateViewport(768, 1024))
	b.noOverflow(t, "tablet 768×1024")
	b.do(t, chromedp.EmulateViewport(640, 360, chromedp.EmulateScale(2)))
	b.noOverflow(t, "200 % zoom")
	b.do(t, chromedp.EmulateViewport(1280, 720))
	b.noOverflow(t, "1280×720")

	// Chinese, switched by hand.
	b.do(t, chromedp.Click(chromedp.ID("lang")))
	if got := jsEval[string](t, b, `document.querySelector('#nav button[data-screen="triage"]').textContent + document.documentElement.lang`); got != "导诊zh-CN" {
		t.Errorf("after switching language the triage tab reads %q", got)
	}
	b.do(t, chromedp.Click(chromedp.CSS(`#nav button[data-screen="triage"]`)))
	if got := jsEval[string](t, b, `document.getElementById('triage-urgency').textContent`); got != "常规" {
		t.Errorf("the triage shown before switching reads %q in Chinese, want 常规", got)
	}
	jsEval[chromedp.Void](t, b, `document.getElementById('triage-input').value = ''`)
	b.do(t, chromedp.SendKeys(chromedp.ID("triage-input"), "突发胸痛，大汗淋漓"), chromedp.Click(chromedp.CSS(`#triage-form button[type=submit]`)))
	b.wait(t, "a Chinese emergency", `!document.getElementById('triage-emergency').hidden && /[\u4e00-\u9fff]/.test(document.getElementById('triage-advice').textContent)`, long)
	b.screenshot(t, "triage-zh")
	b.do(t, chromedp.Click(chromedp.ID("lang")))

	// A key without the memory scope: the 403 names the missing scope.
	b.do(t, chromedp.Click(chromedp.ID("logout")))
	b.wait(t, "signed out", `!document.getElementById('screen-login').hidden`, long)
	b.do(t, chromedp.SendKeys(chromedp.ID("login-key"), u.keys["front-desk"]), chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
	b.wait(t, "signed in as the front desk", `!document.getElementById('nav').hidden`, long)
	b.do(t, chromedp.Click(chromedp.CSS(`#nav button[data-screen="patient"]`)))
	b.do(t, chromedp.SendKeys(chromedp.ID("patient-id"), "P-1001"), chromedp.Click(chromedp.CSS(`#patient-form button[type=submit]`)))
	b.wait(t, "the scope error", `!document.getElementById('error').hidden && document.getElementById('error-text').textContent.includes('"memory"')`, long)
	if jsEval[bool](t, b, `document.getElementById('patient-view').textContent.includes('metformin') && !document.getElementById('patient-view').hidden`) {
		t.Error("a key without the memory scope sees the patient's memory")
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) < 10 {
		t.Errorf("only %d requests recorded: the network listener is not working", len(b.requests))
	}
	for _, r := range b.requests {
		if !strings.HasPrefix(r, u.url+"/") && !strings.HasPrefix(r, "data:") {
			t.Errorf("the page requested %q, outside its own origin %s", r, u.url)
		}
	}
	for _, p := range b.problems {
		t.Errorf("browser reported: %s", p)
	}
}

// On a loopback server with no key configured the app opens without a
// login, chat works, and a screen that needs a key says so and offers to
// sign in.
func TestWebUIBrowserOpenServer(t *testing.T) {
	b := startBrowser(t)
	u := startUIServerKeys(t, false)
	const long = 3 * time.Minute
	b.do(t, chromedp.EmulateViewport(1280, 720), chromedp.Navigate(u.url+"/ui/#patient"))
	b.wait(t, "the patient screen without a login", `!document.getElementById('screen-patient').hidden && document.getElementById('screen-login').hidden`, long)
	if got := jsEval[string](t, b, `document.getElementById('logout').textContent`); got != "Sign in" {
		t.Errorf("header button on an open server reads %q, want Sign in", got)
	}
	b.do(t, chromedp.SendKeys(chromedp.ID("patient-id"), "P-1001\r"))
	b.wait(t, "the scope error", `document.getElementById('error-text').textContent.includes('needs an API key with the "memory" scope')`, long)
	if jsEval[bool](t, b, `!document.getElementById('patient-view').hidden`) {
		t.Error("patient memory shown without a key")
	}
	b.do(t, chromedp.Click(chromedp.ID("logout")))
	b.wait(t, "the login", `!document.getElementById('screen-login').hidden && document.activeElement.id === 'login-key'`, long)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser reported: %s", p)
	}
}
