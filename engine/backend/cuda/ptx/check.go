package ptx

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Entry is one kernel as Check read it from PTX text.
type Entry struct {
	Name   string
	Params []Param // PTX names (kernel_param)
}

// Check reads PTX text the way ptxas would at the level that matters for
// dayi's generated module, without ptxas (no CUDA toolkit is needed to build
// dayi): the header directives, every .entry's parameters, that every
// register is declared with the right type and index range, that every
// label is defined once, that ld.param names a parameter of the entry with
// its declared type, and that each instruction is one the generator may
// emit, with operands of the width and type class it needs (an f32 register
// in an integer instruction, or an integer literal in a float one, is an
// error as in ptxas).
func Check(text string) ([]Entry, error) {
	c := checker{}
	return c.run(text)
}

type checker struct {
	line    int
	entries []Entry
}

func (c *checker) errf(format string, a ...any) error {
	return fmt.Errorf("ptx line %d: %s", c.line, fmt.Sprintf(format, a...))
}

var (
	reEntry   = regexp.MustCompile(`^\.visible \.entry ([A-Za-z_][A-Za-z0-9_]*)\($`)
	reParam   = regexp.MustCompile(`^\.param (\.u64|\.u32|\.f32) ([A-Za-z_][A-Za-z0-9_]*)(,?)$`)
	reRegDecl = regexp.MustCompile(`^\.reg (\.b32|\.f32|\.b64|\.pred|\.b16) (%[a-z]+)<([0-9]+)>;$`)
	reLabel   = regexp.MustCompile(`^(\$?[A-Za-z_][A-Za-z0-9_$]*):$`)
	reReg     = regexp.MustCompile(`^%(r|f|rd|p|h)([0-9]+)$`)
	reFImm    = regexp.MustCompile(`^0f[0-9A-F]{8}$`)
	reIImm    = regexp.MustCompile(`^-?[0-9]+$`)
	reAddr    = regexp.MustCompile(`^\[(%rd[0-9]+)(\+[0-9]+)?\]$`)
	reParRef  = regexp.MustCompile(`^\[([A-Za-z_][A-Za-z0-9_]*)\]$`)
)

var prefixDecl = map[string]string{"%r": ".b32", "%f": ".f32", "%rd": ".b64", "%p": ".pred", "%h": ".b16"}

// Operand classes: I 32-bit integer register (%r); F f32 position (%f or
// %r); X any 32-bit register; D 64-bit register; P predicate; H 16-bit
// register; lower case allows an immediate (i integer, f 0f-float,
// s integer or special register); A global address; M parameter; L label.
var opSpecs = withSetp(map[string]string{
	"mov.u32": "I s", "mov.f32": "F f",
	"add.s32": "I i i", "add.u32": "I i i", "sub.s32": "I i i", "sub.u32": "I i i",
	"mul.lo.s32": "I i i", "mul.lo.u32": "I i i", "mad.lo.s32": "I i i i", "mad.lo.u32": "I i i i",
	"div.u32": "I i i", "min.u32": "I i i", "max.u32": "I i i", "min.s32": "I i i", "max.s32": "I i i",
	"and.b32": "I i i", "or.b32": "I i i", "xor.b32": "I i i", "shl.b32": "I i i", "shr.u32": "I i i", "shr.s32": "I i i",
	"dp4a.s32.s32": "I I I I",
	"add.s64":      "D D D", "mul.wide.u32": "D i i", "mul.wide.s32": "D i i",
	"add.rn.f32": "F f f", "sub.rn.f32": "F f f", "mul.rn.f32": "F f f", "div.rn.f32": "F f f",
	"max.f32": "F f f", "min.f32": "F f f", "fma.rn.f32": "F f f f",
	"abs.f32": "F f", "neg.f32": "F f", "sqrt.rn.f32": "F f", "rcp.rn.f32": "F f", "ex2.approx.f32": "F f",
	"cvt.rzi.f32.f32": "F f", "cvt.rn.f32.s32": "F I", "cvt.rn.f32.u32": "F I", "cvt.rzi.s32.f32": "I F",
	"cvt.f32.f16": "F H", "cvt.rn.f16.f32": "H F", "cvt.rni.s32.f32": "I F", "cvt.u32.u16": "I H",
	"and.pred": "P P P", "or.pred": "P P P",
	"selp.b32": "I i i P", "selp.f32": "F f f P",
	"shfl.sync.bfly.b32": "X X i i i",
	"ld.param.u64":       "D M", "ld.param.u32": "I M", "ld.param.f32": "F M",
	"ld.global.u8": "I A", "ld.global.u16": "I A", "ld.global.b32": "I A",
	"ld.global.u32": "I A", "ld.global.f32": "F A", "ld.global.b16": "H A",
	"st.global.u8": "A I", "st.global.u16": "A I", "st.global.u32": "A I", "st.global.f32": "A F", "st.global.b16": "A H",
	"bra.uni": "L", "bra": "L", "ret": "",
})

var specials = map[string]bool{"%tid.x": true, "%ctaid.x": true, "%ntid.x": true, "%laneid": true}

type entryState struct {
	e       Entry
	decl    map[string]int // prefix -> count
	labels  map[string]bool
	targets map[string]int // label -> first line used
	body    bool
}

func (c *checker) run(text string) ([]Entry, error) {
	var version, target, addr bool
	var cur *entryState
	inParams := false
	for i, raw := range strings.Split(text, "\n") {
		c.line = i + 1
		l := raw
		if j := strings.Index(l, "//"); j >= 0 {
			l = l[:j]
		}
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		switch {
		case cur == nil && strings.HasPrefix(l, ".version "):
			v := strings.TrimPrefix(l, ".version ")
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return nil, c.errf("bad .version %q", v)
			}
			version = true
		case cur == nil && strings.HasPrefix(l, ".target "):
			if !strings.HasPrefix(strings.TrimPrefix(l, ".target "), "sm_") {
				return nil, c.errf("bad .target %q", l)
			}
			target = true
		case cur == nil && l == ".address_size 64":
			addr = true
		case cur == nil && reEntry.MatchString(l):
			if !version || !target || !addr {
				return nil, c.errf(".entry before .version, .target and .address_size 64")
			}
			cur = &entryState{e: Entry{Name: reEntry.FindStringSubmatch(l)[1]}, decl: map[string]int{},
				labels: map[string]bool{}, targets: map[string]int{}}
			inParams = true
		case cur != nil && inParams:
			if l == ")" {
				inParams = false
				continue
			}
			m := reParam.FindStringSubmatch(l)
			if m == nil {
				return nil, c.errf("bad parameter %q", l)
			}
			cur.e.Params = append(cur.e.Params, Param{Name: m[2], Type: ParamType(m[1])})
		case cur != nil && !cur.body:
			if l != "{" {
				return nil, c.errf("want { after the parameters of %s", cur.e.Name)
			}
			cur.body = true
		case cur != nil && l == "}":
			for lbl, at := range cur.targets {
				if !cur.labels[lbl] {
					return nil, fmt.Errorf("ptx line %d: %s: branch to undefined label %s", at, cur.e.Name, lbl)
				}
			}
			c.entries = append(c.entries, cur.e)
			cur = nil
		case cur != nil && strings.HasPrefix(l, ".reg "):
			m := reRegDecl.FindStringSubmatch(l)
			if m == nil {
				return nil, c.errf("bad register declaration %q", l)
			}
			if prefixDecl[m[2]] != m[1] {
				return nil, c.errf("registers %s declared %s, want %s", m[2], m[1], prefixDecl[m[2]])
			}
			if _, dup := cur.decl[m[2]]; dup {
				return nil, c.errf("registers %s declared twice", m[2])
			}
			n, _ := strconv.Atoi(m[3])
			cur.decl[m[2]] = n
		case cur != nil && reLabel.MatchString(l):
			name := reLabel.FindStringSubmatch(l)[1]
			if cur.labels[name] {
				return nil, c.errf("label %s defined twice", name)
			}
			cur.labels[name] = true
		case cur != nil:
			if err := c.instr(cur, l); err != nil {
				return nil, err
			}
		default:
			return nil, c.errf("unexpected %q", l)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("ptx: entry %s not closed", cur.e.Name)
	}
	if len(c.entries) == 0 {
		return nil, fmt.Errorf("ptx: no .entry")
	}
	return c.entries, nil
}

func (c *checker) instr(cur *entryState, l string) error {
	if !strings.HasSuffix(l, ";") {
		return c.errf("instruction without ';': %q", l)
	}
	l = strings.TrimSuffix(l, ";")
	if strings.HasPrefix(l, "@") {
		sp := strings.IndexByte(l, ' ')
		if sp < 0 {
			return c.errf("guard without instruction")
		}
		g := strings.TrimPrefix(strings.TrimPrefix(l[1:sp], "!"), "")
		if err := c.reg(cur, g, "P"); err != nil {
			return err
		}
		l = strings.TrimSpace(l[sp+1:])
	}
	op, rest, _ := strings.Cut(l, " ")
	spec, ok := opSpecs[op]
	if !ok {
		return c.errf("instruction %q is not in the generator's checked set", op)
	}
	var args []string
	if rest = strings.TrimSpace(rest); rest != "" {
		for _, a := range strings.Split(rest, ",") {
			args = append(args, strings.TrimSpace(a))
		}
	}
	want := strings.Fields(spec)
	if len(args) != len(want) {
		return c.errf("%s takes %d operands, has %d", op, len(want), len(args))
	}
	for i, a := range args {
		if err := c.operand(cur, op, a, want[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) operand(cur *entryState, op, a, class string) error {
	switch class {
	case "A":
		m := reAddr.FindStringSubmatch(a)
		if m == nil {
			return c.errf("%s: bad address %q", op, a)
		}
		return c.reg(cur, m[1], "D")
	case "M":
		m := reParRef.FindStringSubmatch(a)
		if m == nil {
			return c.errf("%s: bad parameter reference %q", op, a)
		}
		for _, p := range cur.e.Params {
			if p.Name == m[1] {
				if "ld.param"+string(p.Type) != op {
					return c.errf("%s of parameter %s declared %s", op, p.Name, p.Type)
				}
				return nil
			}
		}
		return c.errf("%s: %s is not a parameter of %s", op, m[1], cur.e.Name)
	case "L":
		if _, seen := cur.targets[a]; !seen {
			cur.targets[a] = c.line
		}
		return nil
	case "i", "f", "s":
		if !strings.HasPrefix(a, "%") {
			if class == "f" && !reFImm.MatchString(a) {
				return c.errf("%s: f32 immediate %q must be written 0fXXXXXXXX", op, a)
			}
			if class != "f" && !reIImm.MatchString(a) {
				return c.errf("%s: bad integer immediate %q", op, a)
			}
			return nil
		}
		if class == "s" && specials[a] {
			return nil
		}
		return c.reg(cur, a, map[string]string{"i": "I", "f": "F", "s": "I"}[class])
	}
	return c.reg(cur, a, class)
}

// reg checks that a names a declared register usable where class is wanted.
func (c *checker) reg(cur *entryState, a, class string) error {
	m := reReg.FindStringSubmatch(a)
	if m == nil {
		return c.errf("%q is not a register", a)
	}
	prefix := "%" + m[1]
	n, _ := strconv.Atoi(m[2])
	count, ok := cur.decl[prefix]
	if !ok || n >= count {
		return c.errf("register %s is not declared", a)
	}
	okClass := map[string][]string{
		"I": {"%r"}, "F": {"%f", "%r"}, "X": {"%r", "%f"}, "D": {"%rd"}, "P": {"%p"}, "H": {"%h"},
	}[class]
	for _, p := range okClass {
		if p == prefix {
			return nil
		}
	}
	return c.errf("register %s (%s) where %s is wanted", a, prefixDecl[prefix], map[string]string{
		"I": "a 32-bit integer", "F": "an f32", "X": "a 32-bit value", "D": "a 64-bit value", "P": "a predicate", "H": "a 16-bit value",
	}[class])
}

// withSetp adds every comparison the generator may emit to m.
func withSetp(m map[string]string) map[string]string {
	for _, c := range []string{"lt", "le", "gt", "ge", "eq", "ne"} {
		m["setp."+c+".u32"] = "P i i"
		m["setp."+c+".s32"] = "P i i"
		m["setp."+c+".f32"] = "P f f"
	}
	return m
}
