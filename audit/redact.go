package audit

import "regexp"

// redaction is one class of protected health information and its pattern.
type redaction struct {
	label string
	re    *regexp.Regexp
}

// redactions run in order: the longer digit patterns (ID cards, record
// numbers, dates) before phone numbers, so a phone pattern never eats part of
// an ID-card number and leaves the rest readable. Each is deliberately broad:
// a false positive costs a word of audit context, a false negative leaks PHI.
var redactions = []redaction{
	{"EMAIL", regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)},
	// Resident identity card numbers (GB 11643-1999): 17 digits and a check
	// digit or X; redacted whether or not the check digit is right.
	{"ID", regexp.MustCompile(`\b[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]\b|\b\d{17}[\dXx]\b`)},
	// Medical record numbers: a label, then an alphanumeric identifier.
	{"MRN", regexp.MustCompile(`(?i)(?:\bMRN|\bmedical\s+record\s+(?:number|no\.?|#)|\bpatient\s+(?:id|number|no\.?)|\bhospital\s+(?:number|no\.?)|病历号|病案号|住院号|门诊号)\s*[:：#=]?\s*[A-Za-z]{0,3}[-\d][\w\-]*`)},
	// Dates of birth: a label then a date in any common writing.
	{"DOB", regexp.MustCompile(`(?i)(?:\bDOB|\bD\.O\.B\.?|\bdate\s+of\s+birth|\bborn(?:\s+on)?|\bbirth\s*date|出生日期|出生于|生日)\s*[:：]?\s*(?:\d{1,4}[\-/.年]\d{1,2}[\-/.月]\d{1,4}日?|\d{1,2}\s+[A-Za-z]{3,9}\.?\s+\d{4}|[A-Za-z]{3,9}\.?\s+\d{1,2},?\s+\d{4})`)},
	// Phone numbers: Chinese mobiles, and international / grouped numbers of
	// 7 or more digits.
	{"PHONE", regexp.MustCompile(`(?:\+?86[\s\-]?)?\b1[3-9]\d[\s\-]?\d{4}[\s\-]?\d{4}\b|\+?\(?\d{1,4}\)?(?:[\s.\-]?\(?\d{2,4}\)?){2,4}\d`)},
	// Names after titles: "Dr. Wang Wei", "Mrs Smith", "patient Li Na".
	{"NAME", regexp.MustCompile(`\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Doctor|Professor|Nurse|Patient|patient|Sir|Madam)\.?\s+(?:[A-Z][a-zA-Z'\-]+)(?:\s+[A-Z][a-zA-Z'\-]+){0,2}`)},
	// Chinese names before honorifics (王伟先生, 李女士) and after 患者/病人.
	{"NAME", regexp.MustCompile(`[\p{Han}]{1,3}(?:先生|女士|小姐|医生|大夫|护士|同志)|(?:患者|病人|病患)\s*[:：]?\s*[\p{Han}]{2,3}`)},
}

// Redact replaces protected health information in s with bracketed labels
// ([NAME], [PHONE], [EMAIL], [ID], [MRN], [DOB]). It is applied to prompt and
// output text before either reaches the audit log.
func Redact(s string) string {
	if s == "" {
		return s
	}
	for _, r := range redactions {
		s = r.re.ReplaceAllLiteralString(s, "["+r.label+"]")
	}
	return s
}
