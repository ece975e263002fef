package clinic

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// The shipped department routing table (replaceable: LoadRouting, `--routing FILE`).
//
//go:embed rules/routing.json
var defaultRoutingJSON []byte

// Department is one entry of the routing table.
type Department struct {
	ID    string   `json:"id"`
	Name  Text     `json:"name"`
	Terms []string `json:"terms"`
}

// RoutingFile is the JSON layout of a routing table.
type RoutingFile struct {
	Version           string       `json:"version"`
	About             string       `json:"about,omitempty"`
	Default           string       `json:"default"`
	Emergency         string       `json:"emergency"`
	Pediatrics        string       `json:"pediatrics,omitempty"`
	PediatricAgeYears int          `json:"pediatric_age_years,omitempty"`
	Departments       []Department `json:"departments"`
	Urgent            Concept      `json:"urgent"`
	Advice            struct {
		Routine Text `json:"routine"`
		Urgent  Text `json:"urgent"`
	} `json:"advice"`
	Questions struct {
		EN []string `json:"en"`
		ZH []string `json:"zh"`
	} `json:"questions"`
}

// Routing is a compiled routing table. It is immutable and safe for concurrent use.
type Routing struct {
	File RoutingFile
	*analyzer
	byID map[string]int
}

const urgentConcept = "\x00urgent" // cannot clash with a department id from JSON text of printable ids

// DefaultRouting compiles the shipped routing table with the shipped negation data.
func DefaultRouting() (*Routing, error) {
	rs, err := DefaultRules()
	if err != nil {
		return nil, err
	}
	r, err := ParseRouting(defaultRoutingJSON, rs.File.Negation)
	if err != nil {
		return nil, fmt.Errorf("embedded rules/routing.json: %w", err)
	}
	return r, nil
}

// LoadRouting reads a routing table; neg is the negation data (normally the rule file's).
func LoadRouting(path string, neg Negation) (*Routing, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	r, err := ParseRouting(b, neg)
	if err != nil {
		return nil, fmt.Errorf("routing %s: %w", path, err)
	}
	return r, nil
}

// ParseRouting compiles a routing table.
func ParseRouting(b []byte, neg Negation) (*Routing, error) {
	var f RoutingFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	r := &Routing{File: f, byID: map[string]int{}}
	concepts := map[string]Concept{}
	for i, d := range f.Departments {
		if d.ID == "" || strings.ContainsRune(d.ID, 0) {
			return nil, fmt.Errorf("departments[%d]: bad id %q", i, d.ID)
		}
		if _, dup := r.byID[d.ID]; dup {
			return nil, fmt.Errorf("department %q: duplicate id", d.ID)
		}
		if d.Name.EN == "" || d.Name.ZH == "" {
			return nil, fmt.Errorf("department %q: name needs both en and zh", d.ID)
		}
		r.byID[d.ID] = i
		if len(d.Terms) > 0 {
			concepts[d.ID] = Concept{Terms: d.Terms}
		}
	}
	for _, id := range []string{f.Default, f.Emergency} {
		if _, ok := r.byID[id]; !ok {
			return nil, fmt.Errorf("default/emergency department %q is not in departments", id)
		}
	}
	if f.Pediatrics != "" {
		if _, ok := r.byID[f.Pediatrics]; !ok {
			return nil, fmt.Errorf("pediatrics department %q is not in departments", f.Pediatrics)
		}
	}
	if len(f.Urgent.Terms) > 0 || f.Urgent.TemperatureMinC > 0 {
		concepts[urgentConcept] = f.Urgent
	}
	for _, t := range []Text{f.Advice.Routine, f.Advice.Urgent} {
		if t.EN == "" || t.ZH == "" {
			return nil, fmt.Errorf("advice needs routine and urgent texts in en and zh")
		}
	}
	if len(f.Questions.EN) == 0 || len(f.Questions.ZH) == 0 {
		return nil, fmt.Errorf("questions need en and zh entries")
	}
	a, err := compileAnalyzer(neg, concepts)
	if err != nil {
		return nil, err
	}
	r.analyzer = a
	return r, nil
}

// Route is what the routing table says about a complaint.
type Route struct {
	// Candidates are the departments with the most matches (all of them tie), in file order; the first is
	// the table's choice. Never empty.
	Candidates []Department
	Urgent     bool
}

// Route picks departments for a complaint: the most not-negated term matches, ties kept in file order, a
// child's stated age adding the pediatrics department, the default department when nothing matches.
func (r *Routing) Route(text string) Route {
	f := r.Analyze(text)
	score := make([]int, len(r.File.Departments))
	for i, d := range r.File.Departments {
		score[i] = f.Count[d.ID]
	}
	if r.File.Pediatrics != "" && r.File.PediatricAgeYears > 0 {
		for _, days := range f.AgesDays {
			if days < r.File.PediatricAgeYears*365 {
				score[r.byID[r.File.Pediatrics]] += 2 // a stated child's age outweighs one organ term
				break
			}
		}
	}
	best := 0
	for i, s := range score {
		if s > best && r.File.Departments[i].ID != r.File.Emergency {
			best = s
		}
	}
	var out Route
	out.Urgent = f.Present[urgentConcept]
	if best == 0 {
		out.Candidates = []Department{r.File.Departments[r.byID[r.File.Default]]}
		return out
	}
	for i, s := range score {
		if s == best && r.File.Departments[i].ID != r.File.Emergency {
			out.Candidates = append(out.Candidates, r.File.Departments[i])
		}
	}
	return out
}

// Department returns a department by id.
func (r *Routing) Department(id string) (Department, bool) {
	i, ok := r.byID[id]
	if !ok {
		return Department{}, false
	}
	return r.File.Departments[i], true
}
