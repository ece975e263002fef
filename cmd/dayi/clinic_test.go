package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestClinicTriageCLI(t *testing.T) {
	var res struct {
		Urgency    string   `json:"urgency"`
		RedFlags   []string `json:"red_flags"`
		Department string   `json:"department"`
		Advice     string   `json:"advice"`
		Questions  []string `json:"questions"`
	}
	out := runCmd(t, "", "clinic", "triage", "--json", "出生50天的宝宝发烧38.5度")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Urgency != "emergency" || len(res.RedFlags) != 1 || res.RedFlags[0] != "infant_fever" || res.Department != "急诊科" {
		t.Errorf("triage: %s", out)
	}
	out = runCmd(t, "toothache for two days", "clinic", "triage", "--json")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Urgency != "routine" || res.Department != "Dentistry" || len(res.Questions) == 0 {
		t.Errorf("triage from stdin: %s", out)
	}
}

func TestClinicRulesAndIntakeCLI(t *testing.T) {
	if out := runCmd(t, "", "clinic", "rules", "check"); !strings.HasPrefix(out, "ok: ") {
		t.Errorf("rules check: %s", out)
	}
	out := runCmd(t, "cough\n2 days\ndry, 3/10\nnone\npenicillin\nasthma\n", "clinic", "intake")
	var step struct {
		Done    bool `json:"done"`
		Summary struct {
			Allergies   []string `json:"allergies"`
			Medications []string `json:"medications"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &step); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !step.Done || len(step.Summary.Allergies) != 1 || step.Summary.Allergies[0] != "penicillin" || len(step.Summary.Medications) != 0 {
		t.Errorf("intake: %s", out)
	}
}
