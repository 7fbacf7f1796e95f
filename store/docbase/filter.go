package docbase

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Filter is OpenAI's attribute filter. A comparison has Type eq, ne, gt,
// gte, lt, lte, in or nin, a Key and a Value (string, float64 or bool;
// for in and nin a []any of strings and numbers); a compound has Type and
// or or and Filters.
//
// A comparison matches only an attribute of the value's type: eq "3" does
// not match the number 3. ne and nin are the negations of eq and in, so
// they also match files without the attribute. gt, gte, lt and lte take
// numbers, or strings compared bytewise.
type Filter struct {
	Type    string
	Key     string
	Value   any
	Filters []Filter
}

// Limits on a filter, so that a request cannot make a query arbitrarily
// large.
const (
	maxFilterDepth = 5
	maxFilterNodes = 64
	maxInValues    = 100
	maxFilterBytes = 64 << 10
)

// ParseFilter reads a filter from its JSON form, strictly: unknown types
// or fields, values of the wrong type and filters over the limits are
// errors (wrapping ErrInvalid).
func ParseFilter(data []byte) (*Filter, error) {
	if len(data) > maxFilterBytes {
		return nil, fmt.Errorf("%w: filters larger than %d bytes", ErrInvalid, maxFilterBytes)
	}
	f, err := parseFilter(data, 1)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

type filterJSON struct {
	Type    string            `json:"type"`
	Key     *string           `json:"key"`
	Value   json.RawMessage   `json:"value"`
	Filters []json.RawMessage `json:"filters"`
}

func parseFilter(data []byte, depth int) (Filter, error) {
	if depth > maxFilterDepth {
		return Filter{}, fmt.Errorf("%w: filters nested deeper than %d", ErrInvalid, maxFilterDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j filterJSON
	if err := dec.Decode(&j); err != nil {
		return Filter{}, fmt.Errorf("%w: filter: %v", ErrInvalid, err)
	}
	if dec.More() {
		return Filter{}, fmt.Errorf("%w: filter: data after the object", ErrInvalid)
	}
	f := Filter{Type: j.Type}
	switch {
	case isCompound(j.Type):
		if j.Key != nil || j.Value != nil {
			return Filter{}, fmt.Errorf("%w: filter %q takes filters, not key or value", ErrInvalid, j.Type)
		}
		for _, raw := range j.Filters {
			sub, err := parseFilter(raw, depth+1)
			if err != nil {
				return Filter{}, err
			}
			f.Filters = append(f.Filters, sub)
		}
	case isComparison(j.Type):
		if j.Filters != nil {
			return Filter{}, fmt.Errorf("%w: filter %q takes key and value, not filters", ErrInvalid, j.Type)
		}
		if j.Key == nil || j.Value == nil {
			return Filter{}, fmt.Errorf("%w: filter %q needs key and value", ErrInvalid, j.Type)
		}
		f.Key = *j.Key
		if err := json.Unmarshal(j.Value, &f.Value); err != nil {
			return Filter{}, fmt.Errorf("%w: filter value: %v", ErrInvalid, err)
		}
	default:
		return Filter{}, fmt.Errorf("%w: filter type %q: want eq, ne, gt, gte, lt, lte, in, nin, and or or", ErrInvalid, j.Type)
	}
	return f, nil
}

func isCompound(t string) bool { return t == "and" || t == "or" }

func isComparison(t string) bool {
	switch t {
	case "eq", "ne", "gt", "gte", "lt", "lte", "in", "nin":
		return true
	}
	return false
}

// Validate checks f as ParseFilter does, for filters built in Go.
func (f *Filter) Validate() error {
	nodes := 0
	return f.validate(1, &nodes)
}

func (f *Filter) validate(depth int, nodes *int) error {
	if depth > maxFilterDepth {
		return fmt.Errorf("%w: filters nested deeper than %d", ErrInvalid, maxFilterDepth)
	}
	if *nodes++; *nodes > maxFilterNodes {
		return fmt.Errorf("%w: more than %d filters", ErrInvalid, maxFilterNodes)
	}
	if isCompound(f.Type) {
		if len(f.Filters) == 0 {
			return fmt.Errorf("%w: filter %q with no filters", ErrInvalid, f.Type)
		}
		for i := range f.Filters {
			if err := f.Filters[i].validate(depth+1, nodes); err != nil {
				return err
			}
		}
		return nil
	}
	if !isComparison(f.Type) {
		return fmt.Errorf("%w: filter type %q: want eq, ne, gt, gte, lt, lte, in, nin, and or or", ErrInvalid, f.Type)
	}
	if err := checkAttrKey(f.Key); err != nil {
		return err
	}
	switch v := f.Value.(type) {
	case []any:
		if f.Type != "in" && f.Type != "nin" {
			return fmt.Errorf("%w: filter %q on %q: a list is only for in and nin", ErrInvalid, f.Type, f.Key)
		}
		if len(v) == 0 || len(v) > maxInValues {
			return fmt.Errorf("%w: filter %q on %q: list of 1 to %d values", ErrInvalid, f.Type, f.Key, maxInValues)
		}
		for _, x := range v {
			if err := checkScalar(x, false); err != nil {
				return fmt.Errorf("%w: filter %q on %q: %v", ErrInvalid, f.Type, f.Key, err)
			}
		}
	default:
		if f.Type == "in" || f.Type == "nin" {
			return fmt.Errorf("%w: filter %q on %q needs a list", ErrInvalid, f.Type, f.Key)
		}
		ordered := f.Type == "gt" || f.Type == "gte" || f.Type == "lt" || f.Type == "lte"
		if err := checkScalar(v, !ordered); err != nil {
			return fmt.Errorf("%w: filter %q on %q: %v", ErrInvalid, f.Type, f.Key, err)
		}
	}
	return nil
}

func checkScalar(v any, boolOK bool) error {
	switch v := v.(type) {
	case string:
		if len(v) > 4*maxValueChars {
			return errors.New("string too long")
		}
		return nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("number is not finite")
		}
		return nil
	case bool:
		if !boolOK {
			return errors.New("a boolean cannot be ordered or listed")
		}
		return nil
	}
	return fmt.Errorf("value of type %T: want a string, number or boolean", v)
}

// sql compiles a validated filter to a condition on the store_files row
// sf. Each comparison looks the key up with json_each, so that no key
// is ever spliced into a JSON path; every value is a bound parameter.
func (f *Filter) sql() (string, []any) {
	switch f.Type {
	case "and", "or":
		parts := make([]string, len(f.Filters))
		var args []any
		for i := range f.Filters {
			s, a := f.Filters[i].sql()
			parts[i] = "(" + s + ")"
			args = append(args, a...)
		}
		return strings.Join(parts, " "+strings.ToUpper(f.Type)+" "), args
	case "ne":
		s, a := (&Filter{Type: "eq", Key: f.Key, Value: f.Value}).sql()
		return "NOT " + s, a
	case "nin":
		s, a := (&Filter{Type: "in", Key: f.Key, Value: f.Value}).sql()
		return "NOT " + s, a
	}
	var cond string
	var args []any
	switch f.Type {
	case "eq":
		cond, args = typedCompare("=", f.Value)
	case "gt", "gte", "lt", "lte":
		op := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[f.Type]
		cond, args = typedCompare(op, f.Value)
	case "in":
		var strs, nums []any
		for _, x := range f.Value.([]any) {
			if s, ok := x.(string); ok {
				strs = append(strs, s)
			} else {
				nums = append(nums, x)
			}
		}
		var alts []string
		if len(strs) > 0 {
			alts = append(alts, "(a.type = 'text' AND a.value IN ("+placeholders(len(strs))+"))")
			args = append(args, strs...)
		}
		if len(nums) > 0 {
			alts = append(alts, "(a.type IN ('integer', 'real') AND a.value IN ("+placeholders(len(nums))+"))")
			args = append(args, nums...)
		}
		cond = "(" + strings.Join(alts, " OR ") + ")"
	}
	return "EXISTS (SELECT 1 FROM json_each(sf.attributes) a WHERE a.key = ? AND " + cond + ")",
		append([]any{f.Key}, args...)
}

// typedCompare compares json_each's a.value with v, only where the
// attribute has v's JSON type.
func typedCompare(op string, v any) (string, []any) {
	switch v := v.(type) {
	case string:
		return "a.type = 'text' AND a.value " + op + " ?", []any{v}
	case bool:
		// Only eq reaches here with a boolean (Validate).
		if v {
			return "a.type = 'true'", nil
		}
		return "a.type = 'false'", nil
	default:
		return "a.type IN ('integer', 'real') AND a.value " + op + " ?", []any{v}
	}
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
