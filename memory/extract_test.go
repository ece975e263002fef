package memory

import (
	"reflect"
	"testing"
	"time"
)

func TestExtractFacts(t *testing.T) {
	when := time.Date(2024, 3, 5, 9, 0, 0, 0, time.UTC)
	type kv struct{ kind, subject string }
	cases := []struct {
		text string
		want []kv
	}{
		{"患者自述对青霉素过敏，用药后出现皮疹。", []kv{{FactAllergy, "青霉素"}}},
		{"有磺胺类过敏史。", []kv{{FactAllergy, "磺胺类"}}},
		{"过敏史：头孢曲松", []kv{{FactAllergy, "头孢曲松"}}},
		{"否认药物过敏史。", []kv{{FactAllergy, "none known"}}},
		{"Patient is allergic to penicillin, rash in 2019.", []kv{{FactAllergy, "penicillin"}}},
		{"Known peanut allergy.", []kv{{FactAllergy, "peanut"}}},
		{"NKDA.", []kv{{FactAllergy, "none known"}}},
		{"诊断为2型糖尿病，继续随访。", []kv{{FactDiagnosis, "2型糖尿病"}}},
		{"既往高血压病史10年。", []kv{{FactDiagnosis, "高血压"}}},
		{"否认糖尿病病史。", nil},
		{"She was diagnosed with atrial fibrillation last year.", []kv{{FactDiagnosis, "atrial fibrillation last year"}}},
		{"每日口服二甲双胍0.5g。", []kv{{FactMedication, "二甲双胍0.5g"}}},
		{"Started metformin 500 mg twice daily.", []kv{{FactMedication, "metformin 500 mg"}}},
		{"2024年1月10日复查HbA1c 8.2%。", []kv{{FactResult, "HbA1c"}}},
		{"BP 150/95 mmHg today.", []kv{{FactResult, "BP"}}},
		{"今天天气很好，患者心情愉快。", nil},
	}
	for _, c := range cases {
		var got []kv
		for _, f := range ExtractFacts(c.text, when) {
			got = append(got, kv{f.Kind, f.Subject})
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %v, want %v", c.text, got, c.want)
		}
	}
	fs := ExtractFacts("2024年1月10日复查HbA1c 8.2%。", when)
	if len(fs) != 1 || fs[0].Date != "2024-01-10" || fs[0].Text != "HbA1c 8.2%" {
		t.Errorf("dated result: %+v", fs)
	}
	fs = ExtractFacts("BP 150/95 mmHg today.", when)
	if len(fs) != 1 || fs[0].Date != "2024-03-05" || fs[0].Text != "BP 150/95 mmHg" {
		t.Errorf("undated result: %+v", fs)
	}
}
