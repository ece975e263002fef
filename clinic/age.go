package clinic

import (
	"regexp"
	"strconv"
	"strings"
)

// Age and temperature expressions, matched on normalised text (lower case, half-width digits). Ages need an
// explicit marker ("old", "of age", "大", "月龄", a baby noun) so that "3 months ago", "8 weeks pregnant" and
// "孕8周" are not read as ages.
var (
	num = `(\d+(?:\.\d+)?|[一二两三四五六七八九十半]+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a)`

	enUnit  = `(days?|d|weeks?|wks?|w|months?|mos?|m|years?|yrs?|y)`
	ageEN   = regexp.MustCompile(num + `[ -]?` + enUnit + `[ -]?old\b`)
	ageEN2  = regexp.MustCompile(num + ` ?` + enUnit + ` of age\b`)
	ageEN3  = regexp.MustCompile(`\b(?:aged?:?|age is) ?` + num + ` ?` + enUnit + `\b`)
	ageEN4  = regexp.MustCompile(`\bborn ` + num + ` ` + enUnit + ` ago\b`)
	ageEN5  = regexp.MustCompile(num + `[ -]?` + enUnit + `[ -]?(?:old )?(?:baby|infant|newborn|neonate|son|daughter|boy|girl)\b`)
	zhUnit  = `(天|日|周|个星期|星期|个多月|个半月|个月|月|岁半|岁)`
	ageZH   = regexp.MustCompile(`(?:出生|生后|出生后) ?` + num + ` ?` + zhUnit)
	ageZH2  = regexp.MustCompile(num + ` ?` + zhUnit + `(?:大|龄)`)
	ageZH3  = regexp.MustCompile(num + ` ?` + zhUnit + `的?(?:宝宝|婴儿|孩子|小孩|男婴|女婴|新生儿|宝|儿子|女儿|患儿|婴)`)
	ageZH4  = regexp.MustCompile(`(\d+|[一二两三四五六七八九十]+) ?岁`)
	fullMon = regexp.MustCompile(`满月`)

	tempC  = regexp.MustCompile(`(\d{2}(?:\.\d+)?) ?(?:°c|° c|度|摄氏度|℃)`)
	tempF  = regexp.MustCompile(`(\d{2,3}(?:\.\d+)?) ?(?:°f|° f|华氏度|f\b)`)
	tempKW = regexp.MustCompile(`(?:temp(?:erature)?|体温|发烧|发热|高烧|fever(?: of)?)[^0-9.;!?]{0,12}?(\d{2,3}(?:\.\d+)?)`)
)

var enNumbers = map[string]float64{
	"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
	"ten": 10, "eleven": 11, "twelve": 12,
}

// parseNum reads an Arabic, English or Chinese number (up to 99; "半" is one half).
func parseNum(s string) (float64, bool) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v, true
	}
	if v, ok := enNumbers[s]; ok {
		return v, true
	}
	if s == "半" {
		return 0.5, true
	}
	digits := map[rune]float64{'一': 1, '二': 2, '两': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9}
	var total, cur float64
	seen := false
	for _, r := range s {
		switch {
		case r == '十':
			if cur == 0 {
				cur = 1
			}
			total += cur * 10
			cur = 0
		case digits[r] > 0:
			cur = digits[r]
		default:
			return 0, false
		}
		seen = true
	}
	return total + cur, seen
}

func unitDays(u string) float64 {
	switch {
	case strings.HasPrefix(u, "d"), u == "天", u == "日":
		return 1
	case strings.HasPrefix(u, "w"), u == "周", strings.HasSuffix(u, "星期"):
		return 7
	case u == "个半月":
		return 30 // the half is added by the caller
	case strings.HasPrefix(u, "m"), strings.HasSuffix(u, "月"):
		return 30 // a month counts 30 days, so "3 months" is within a 90-day limit
	case strings.HasPrefix(u, "y"), strings.HasPrefix(u, "岁"):
		return 365
	}
	return 0
}

// parseAges returns every age stated in s, in days.
func parseAges(s string) []int {
	var out []int
	var seen []span
	add := func(at []int, n, unit string) {
		for _, sp := range seen {
			if at[0] < sp.end && at[1] > sp.start {
				return // "一岁半" is one age, not also "一岁"
			}
		}
		seen = append(seen, span{at[0], at[1]})
		v, ok := parseNum(n)
		d := unitDays(unit)
		if !ok || d == 0 {
			return
		}
		days := v * d
		switch unit {
		case "个半月":
			days += 15
		case "岁半":
			days += 182
		}
		out = append(out, int(days+0.5))
	}
	for _, re := range []*regexp.Regexp{ageEN, ageEN2, ageEN3, ageEN4, ageEN5, ageZH, ageZH2, ageZH3} {
		for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
			add(m[:2], s[m[2]:m[3]], s[m[4]:m[5]])
		}
	}
	for _, m := range ageZH4.FindAllStringSubmatchIndex(s, -1) {
		add(m[:2], s[m[2]:m[3]], "岁")
	}
	if fullMon.MatchString(s) {
		out = append(out, 30)
	}
	return out
}

// parseTemps returns the body temperatures written in s, in °C; Fahrenheit values (93–113 °F) are converted,
// and readings outside 34–45 °C are ignored as not body temperatures.
func parseTemps(s string) []float64 {
	var out []float64
	addC := func(v float64) {
		if v >= 34 && v <= 45 {
			out = append(out, v)
		}
	}
	addAny := func(v float64) {
		if v >= 93 && v <= 113 {
			addC((v - 32) * 5 / 9)
			return
		}
		addC(v)
	}
	for _, m := range tempC.FindAllStringSubmatch(s, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			addC(v)
		}
	}
	for _, m := range tempF.FindAllStringSubmatch(s, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil && v >= 93 && v <= 113 {
			addC((v - 32) * 5 / 9)
		}
	}
	for _, m := range tempKW.FindAllStringSubmatch(s, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			addAny(v)
		}
	}
	return out
}
