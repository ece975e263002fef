package clinic

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Normalize maps text to the canonical form the red-flag matcher works on, so that rule terms written once
// match what patients type: NFKC (full-width Latin letters, digits and punctuation become half-width, "℃"
// becomes "°c"), Unicode case folding, traditional Chinese characters of the medical vocabulary mapped to their
// simplified forms, curly quotes and dashes made ASCII, "。" made ".", and every run of white space or control
// characters made one space. Invalid UTF-8 becomes U+FFFD. It is deterministic and never panics.
func Normalize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = norm.NFKC.String(s)
	// A Caser is stateful, so one per call rather than a shared global. x/text folds some letters (Cherokee)
	// to a form it folds back again; lower-casing after folding gives a fixed point, so Normalize is idempotent.
	s = strings.ToLower(cases.Fold().String(s))
	var b strings.Builder
	b.Grow(len(s))
	space := true // drops leading space
	for _, r := range s {
		if m, ok := tradToSimp[r]; ok {
			r = m
		}
		switch r {
		case '\u2018', '\u2019', '\u02bc', '`', '\u00b4':
			r = '\''
		case '\u201c', '\u201d', '\u300c', '\u300d', '\u300e', '\u300f':
			r = '"'
		case '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '\u30fc':
			r = '-'
		case '\u3002', '\uff61':
			r = '.'
		case '\u3001', '\uff64':
			r = '、'
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			if r == '\n' || r == '\r' {
				// A line break separates clauses; keep it as a full stop so negation does not cross it.
				trimSpace(&b)
				if t := b.String(); t != "" && !strings.ContainsRune(".;!?", rune(t[len(t)-1])) {
					b.WriteByte('.')
				}
				if b.Len() > 0 {
					b.WriteByte(' ')
				}
				space = true
				continue
			}
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		}
		b.WriteRune(r)
		space = false
	}
	out := b.String()
	return strings.TrimRight(out, " ")
}

func trimSpace(b *strings.Builder) {
	s := b.String()
	if t := strings.TrimRight(s, " "); len(t) != len(s) {
		b.Reset()
		b.WriteString(t)
	}
}

// tradToSimp maps the traditional characters that occur in symptom vocabulary (and in the shipped rule and
// routing files) to their simplified forms. It is deliberately small: a full OpenCC table is not needed to
// match a few hundred medical terms, and a wrong many-to-one mapping of rare characters would do harm.
var tradToSimp = map[rune]rune{
	'發': '发', '燒': '烧', '頭': '头', '嘔': '呕', '難': '难', '暈': '晕', '過': '过', '腫': '肿', '嚨': '咙',
	'懷': '怀', '產': '产', '陰': '阴', '癲': '癫', '癇': '痫', '劇': '剧', '殺': '杀', '輕': '轻', '無': '无',
	'沒': '没', '語': '语', '話': '话', '說': '说', '臉': '脸', '側': '侧', '腳': '脚', '嬰': '婴', '兒': '儿',
	'個': '个', '歲': '岁', '週': '周', '氣': '气', '頜': '颌', '壓': '压', '悶': '闷', '噁': '恶', '識': '识',
	'應': '应', '斷': '断', '傷': '伤', '車': '车', '禍': '祸', '燙': '烫', '藥': '药', '誤': '误', '動': '动',
	'彈': '弹', '癱': '瘫', '瘓': '痪', '視': '视', '雙': '双', '隻': '只', '體': '体', '溫': '温', '熱': '热',
	'驚': '惊', '頸': '颈', '樣': '样', '從': '从', '來': '来', '嚴': '严', '鮮': '鲜', '紅': '红', '經': '经',
	'絞': '绞', '陣': '阵', '減': '减', '尋': '寻', '結': '结', '樓': '楼', '劃': '划', '遺': '遗', '書': '书',
	'認': '认', '卻': '却', '還': '还', '並': '并', '蕁': '荨', '緊': '紧', '擴': '扩', '脹': '胀', '與': '与',
	'嗎': '吗', '現': '现', '診': '诊', '醫': '医', '歷': '历', '學': '学', '錯': '错',
	'亂': '乱', '帶': '带', '膽': '胆', '腦': '脑', '風': '风', '漲': '涨', '擔': '担', '憂': '忧', '鬱': '郁',
	'覺': '觉', '聽': '听', '聲': '声', '麼': '么', '這': '这', '會': '会', '時': '时',
	'間': '间', '後': '后', '裡': '里', '裏': '里', '幾': '几', '點': '点', '嗆': '呛', '嚥': '咽',
	'搖': '摇', '顫': '颤', '癢': '痒', '膚': '肤', '蒼': '苍', '廁': '厕',
	'腸': '肠', '瀉': '泻', '塊': '块', '糞': '粪', '稱': '称', '穩': '稳', '廢': '废',
	'損': '损', '處': '处', '節': '节', '關': '关',
	'腎': '肾', '婦': '妇', '見': '见', '羥': '羟', '臟': '脏', '衝': '冲', '顏': '颜', '瞼': '睑',
	'複': '复', '復': '复', '嚇': '吓', '寶': '宝', '媽': '妈', '爺': '爷', '滿': '满', '趕': '赶',
	'鐘': '钟', '鍾': '钟', '塗': '涂', '術': '术', '數': '数', '測': '测', '陽': '阳', '喪': '丧',
	'惡': '恶', '睏': '困', '喚': '唤', '閉': '闭', '嚮': '向',
}

// normalizeMapped is Normalize that also tells, for each byte of its result,
// the byte range of s it came from, so that spans found in the normalised
// text can be shown on the text the patient typed (upper case, full-width
// letters, traditional characters and all). It walks s one NFKC segment at a
// time (norm.Iter's segments normalise independently, so their results
// concatenate to the whole string's) and folds each segment as Normalize
// folds the whole; callers check that the text equals Normalize(s) and fall
// back to the normalised text if a folding ever depended on its neighbours.
// src[i] is the [start, end) in s of the segment that wrote byte i.
func normalizeMapped(s string) (string, [][2]int) {
	if !utf8.ValidString(s) {
		return Normalize(s), nil // offsets into a repaired string would not fit s
	}
	fold := cases.Fold()
	var out []byte
	var src [][2]int
	put := func(b []byte, from [2]int) {
		out = append(out, b...)
		for range b {
			src = append(src, from)
		}
	}
	trim := func() {
		for len(out) > 0 && out[len(out)-1] == ' ' {
			out, src = out[:len(out)-1], src[:len(src)-1]
		}
	}
	space := true
	var it norm.Iter
	it.InitString(norm.NFKC, s)
	var buf [utf8.UTFMax]byte
	p0, seg := 0, ""
	for !it.Done() {
		// A long expansion ("ﬁ", "㎒") may come in pieces that leave Pos
		// where it was; gather them until the input moves on.
		seg += string(it.Next())
		if it.Pos() == p0 && !it.Done() {
			continue
		}
		from := [2]int{p0, it.Pos()}
		p0 = it.Pos()
		for _, r := range strings.ToLower(fold.String(seg)) {
			if m, ok := tradToSimp[r]; ok {
				r = m
			}
			switch r {
			case '\u2018', '\u2019', '\u02bc', '`', '\u00b4':
				r = '\''
			case '\u201c', '\u201d', '\u300c', '\u300d', '\u300e', '\u300f':
				r = '"'
			case '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '\u30fc':
				r = '-'
			case '\u3002', '\uff61':
				r = '.'
			case '\u3001', '\uff64':
				r = '、'
			}
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				if r == '\n' || r == '\r' {
					trim()
					if len(out) > 0 && !strings.ContainsRune(".;!?", rune(out[len(out)-1])) {
						put([]byte{'.'}, from)
					}
					if len(out) > 0 {
						put([]byte{' '}, from)
					}
					space = true
					continue
				}
				if !space {
					put([]byte{' '}, from)
					space = true
				}
				continue
			}
			put(buf[:utf8.EncodeRune(buf[:], r)], from)
			space = false
		}
		seg = ""
	}
	trim()
	return string(out), src
}
