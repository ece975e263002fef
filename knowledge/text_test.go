package knowledge

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitSentences(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"患者男，65岁。主诉胸痛2小时！是否心梗？", []string{"患者男，65岁。", "主诉胸痛2小时！", "是否心梗？"}},
		{"医生说：“按时服药。”随后离开。", []string{"医生说：“按时服药。”", "随后离开。"}},
		{"Give 2.5 mg daily. Review in 2 weeks, e.g. by phone. Stop if K > 6.", []string{"Give 2.5 mg daily.", "Review in 2 weeks, e.g. by phone.", "Stop if K > 6."}},
		{"第一行没有句号\n\n第二段；第三句", []string{"第一行没有句号", "第二段；", "第三句"}},
		{"- item one\n- item two", []string{"- item one", "- item two"}},
		{"soft\nwrapped line.", []string{"soft\nwrapped line."}},
	}
	for _, c := range cases {
		if got := SplitSentences(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitSentences(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTerms(t *testing.T) {
	got := Terms("高血压患者 taking Statins, 甲 HbA1c 7.5%")
	want := []string{"高血", "血压", "压患", "患者", "taking", "statin", "甲", "hba1c", "7", "5"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Terms = %q, want %q", got, want)
	}
	for in, want := range map[string]string{"therapies": "therapy", "sepsis": "sepsis", "diabetes": "diabete", "classes": "class", "status": "status", "ulcers": "ulcer"} {
		if got := stem(in); got != want {
			t.Errorf("stem(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEstimateTokens(t *testing.T) {
	for in, want := range map[string]int{"": 0, "高血压": 3, "hello": 2, "a b": 2, "BP 140/90.": 5} {
		if got := EstimateTokens(in); got != want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestChunksKeepSentences checks that chunks respect the token budget, never
// cut a sentence that fits, and lose no text.
func TestChunksKeepSentences(t *testing.T) {
	var b strings.Builder
	var sentences []string
	for i := 0; i < 60; i++ {
		s := strings.Repeat("患者血压控制良好", 1+i%5) + "。"
		if i%3 == 0 {
			s = "Blood pressure was " + strings.Repeat("well controlled ", 1+i%4) + "today."
		}
		sentences = append(sentences, s)
		b.WriteString(s)
		if i%7 == 6 {
			b.WriteString("\n\n")
		}
	}
	d := document{source: "x.txt", title: "x", sections: []section{{text: b.String(), line: 1}}}
	ck := chunker{maxTokens: 64, count: EstimateTokens}
	chunks := ck.chunks(&d)
	if len(chunks) < 5 {
		t.Fatalf("only %d chunks", len(chunks))
	}
	var joined strings.Builder
	for _, c := range chunks {
		if c.Tokens > 64 {
			t.Errorf("chunk of %d tokens > 64: %q", c.Tokens, c.Text)
		}
		last, _ := utf8.DecodeLastRuneInString(c.Text)
		if last != '。' && last != '.' {
			t.Errorf("chunk ends inside a sentence: %q", c.Text)
		}
		joined.WriteString(strings.ReplaceAll(c.Text, " ", ""))
	}
	want := strings.ReplaceAll(strings.Join(sentences, ""), " ", "")
	if joined.String() != want {
		t.Errorf("chunks lost or reordered text")
	}
}

func TestChunkLongSentence(t *testing.T) {
	long := strings.Repeat("这是一个很长的从句，", 40) + "结束。"
	d := document{source: "x", sections: []section{{text: long}}}
	ck := chunker{maxTokens: 50, count: EstimateTokens}
	var got strings.Builder
	for _, c := range ck.chunks(&d) {
		if c.Tokens > 50 {
			t.Errorf("piece of %d tokens", c.Tokens)
		}
		got.WriteString(c.Text)
	}
	if got.String() != long {
		t.Errorf("long sentence not preserved")
	}
}

func TestMarkdownSections(t *testing.T) {
	md := "# 糖尿病指南\n\n前言文字。\n\n## 药物治疗\n\n二甲双胍首选。\n\n```\n# not a heading\n```\n\nSetext\n------\n\nUnder setext.\n"
	d := parseMarkdown("g.md", "g", md)
	if d.title != "糖尿病指南" {
		t.Errorf("title %q", d.title)
	}
	ck := chunker{maxTokens: 200, count: EstimateTokens}
	chunks := ck.chunks(&d)
	want := []struct{ loc, text string }{
		{"糖尿病指南, line 3", "前言文字。"},
		{"糖尿病指南 > 药物治疗, lines 7-11", "二甲双胍首选。 ``` # not a heading ```"},
		{"糖尿病指南 > Setext, line 16", "Under setext."},
	}
	if len(chunks) != len(want) {
		t.Fatalf("got %d chunks: %+v", len(chunks), chunks)
	}
	for i, w := range want {
		if chunks[i].Location != w.loc || chunks[i].Text != w.text {
			t.Errorf("chunk %d = %q @ %q, want %q @ %q", i, chunks[i].Text, chunks[i].Location, w.text, w.loc)
		}
	}
}

func TestPlainHeadings(t *testing.T) {
	txt := "第一章 总则\n本规范适用于全院。\n一、适用范围\n门诊和住院患者。\n（一）门诊\n挂号后就诊。\n第二章 附则\n3 Scope\nAll wards.\n3.1 Dosing\nOne tablet daily.\n"
	d := parsePlain("r.txt", "r", txt)
	var locs []string
	for _, s := range d.sections {
		locs = append(locs, strings.Join(s.headings, " > "))
	}
	want := []string{"第一章 总则", "第一章 总则 > 一、适用范围", "第一章 总则 > 一、适用范围 > （一）门诊", "第二章 附则 > 3 Scope", "第二章 附则 > 3 Scope > 3.1 Dosing"}
	if !reflect.DeepEqual(locs, want) {
		t.Errorf("sections %q, want %q", locs, want)
	}
}

func TestHTML(t *testing.T) {
	h := `<html><head><title>Sepsis &amp; shock</title><style>p{color:red}</style></head>
<body><script>var x = "<p>no</p>";</script><h1>Sepsis</h1><p>Take cultures<br>before antibiotics.</p>
<!-- hidden --><h2>Fluids</h2><p>30 ml/kg crystalloid &lt;3 h.</p></body></html>`
	d := parseHTML("s.html", "s", h)
	if d.title != "Sepsis & shock" {
		t.Errorf("title %q", d.title)
	}
	ck := chunker{maxTokens: 200, count: EstimateTokens}
	chunks := ck.chunks(&d)
	if len(chunks) != 2 || chunks[0].Text != "Take cultures before antibiotics." || chunks[0].Location != "Sepsis" ||
		chunks[1].Text != "30 ml/kg crystalloid <3 h." || chunks[1].Location != "Sepsis > Fluids" {
		t.Errorf("chunks %+v", chunks)
	}
}
