package knowledge

import (
	"encoding/json"
	"strconv"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
func strconvItoa(i int) string            { return strconv.Itoa(i) }
