package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeLog(t *testing.T, content bool, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, content)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := l.Append(Record{RequestID: "r" + string(rune('a'+i)), Endpoint: "/api/chat", Model: "dayi-tiny",
			PromptTokens: 10 + i, OutputTokens: 5, Client: "127.0.0.1", Status: 200,
			Prompt: "Patient Zhang San, phone 13812345678", Output: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func verifyFile(t *testing.T, path string) (Status, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Verify(f)
}

func TestChainVerifies(t *testing.T) {
	path := writeLog(t, false, 5)
	st, err := verifyFile(t, path)
	if err != nil || st.Records != 5 {
		t.Fatalf("verify: %v, %d records", err, st.Records)
	}
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte("Zhang")) || bytes.Contains(data, []byte(`"prompt"`)) {
		t.Fatalf("content recorded without --audit-content:\n%s", data)
	}
	// Reopening continues the chain.
	l, err := Open(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Record{RequestID: "x", Endpoint: "/v1/models", Status: 200}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if st, err := verifyFile(t, path); err != nil || st.Records != 6 {
		t.Fatalf("after reopen: %v, %d records", err, st.Records)
	}
}

func TestTamperDetected(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(lines []string) []string
		line   int
		reason string
	}{
		{"edited field", func(l []string) []string {
			l[2] = strings.Replace(l[2], `"status":200`, `"status":403`, 1)
			return l
		}, 3, "modified"},
		{"deleted record", func(l []string) []string { return append(l[:1], l[2:]...) }, 2, "missing record(s) 2..2"},
		{"swapped records", func(l []string) []string { l[1], l[2] = l[2], l[1]; return l }, 2, "missing"},
		{"truncated tail", func(l []string) []string { l[4] = l[4][:len(l[4])/2]; return l }, 5, "malformed"},
		{"garbage line", func(l []string) []string { l[0] = "hello"; return l }, 1, "not an audit record"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeLog(t, false, 5)
			data, _ := os.ReadFile(path)
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			lines = c.edit(lines)
			os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
			_, err := verifyFile(t, path)
			var ve *VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, ErrTampered) {
				t.Fatalf("want VerifyError, got %v", err)
			}
			if ve.Line != c.line || !strings.Contains(ve.Reason, c.reason) {
				t.Fatalf("got line %d %q, want line %d containing %q", ve.Line, ve.Reason, c.line, c.reason)
			}
			if _, err := Open(path, false); err == nil {
				t.Fatal("Open extended a broken chain")
			}
		})
	}
}

func TestContentIsRedacted(t *testing.T) {
	path := writeLog(t, true, 1)
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte("Zhang")) || bytes.Contains(data, []byte("13812345678")) {
		t.Fatalf("PHI in audit log:\n%s", data)
	}
	if !bytes.Contains(data, []byte("[NAME]")) || !bytes.Contains(data, []byte("[PHONE]")) {
		t.Fatalf("redaction labels missing:\n%s", data)
	}
}

func TestRedact(t *testing.T) {
	cases := []struct{ in, secret string }{
		{"Dr. Wang Wei saw the patient", "Wang Wei"},
		{"Mrs Eleanor Rigby, 72, chest pain", "Eleanor Rigby"},
		{"patient Li Na reports cough", "Li Na"},
		{"call 138-1234-5678 tomorrow", "1234-5678"},
		{"call +86 13812345678", "13812345678"},
		{"tel (021) 6432-1234", "6432-1234"},
		{"US number +1 415 555 2671", "555 2671"},
		{"mail zhang.san@hospital.cn please", "zhang.san@hospital.cn"},
		{"身份证 11010519491231002X 已核验", "11010519491231002X"},
		{"ID 440524188001010014", "440524188001010014"},
		{"MRN: 00123456 admitted", "00123456"},
		{"medical record number A-778812", "778812"},
		{"病历号：ZY20240311 住院", "ZY20240311"},
		{"DOB 1961-03-14", "1961-03-14"},
		{"date of birth: 14 March 1961", "14 March 1961"},
		{"born on March 14, 1961", "March 14, 1961"},
		{"出生日期：1961年3月14日", "1961年3月14日"},
		{"王伟先生今天复诊", "王伟先生"},
		{"患者张三主诉头痛", "张三"},
	}
	for _, c := range cases {
		if got := Redact(c.in); strings.Contains(got, c.secret) {
			t.Errorf("Redact(%q) = %q still contains %q", c.in, got, c.secret)
		}
	}
	// Clinical text without PHI stays readable.
	for _, s := range []string{"Take 500 mg amoxicillin three times a day for 7 days.", "BP 120/80, HR 72."} {
		if got := Redact(s); got != s {
			t.Errorf("Redact(%q) = %q, want unchanged", s, got)
		}
	}
}
