package docbase

import (
	"fmt"
	"math"
	"unicode/utf8"
)

// Attributes are a store file's attributes: up to 16 keys whose values
// are strings (up to 512 characters), numbers or booleans, as OpenAI's.
// Numbers are held as float64, as JSON decodes them.
type Attributes map[string]any

// normalize checks a and converts Go integer values to float64, so that
// what is stored is what JSON would have given.
func (a Attributes) normalize() (Attributes, error) {
	if len(a) > maxPairs {
		return nil, fmt.Errorf("%w: attributes have %d keys, at most %d", ErrInvalid, len(a), maxPairs)
	}
	out := make(Attributes, len(a))
	for k, v := range a {
		if err := checkAttrKey(k); err != nil {
			return nil, err
		}
		switch v := v.(type) {
		case string:
			if utf8.RuneCountInString(v) > maxValueChars || !utf8.ValidString(v) {
				return nil, fmt.Errorf("%w: attribute %q: string longer than %d characters", ErrInvalid, k, maxValueChars)
			}
			out[k] = v
		case bool:
			out[k] = v
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: attribute %q: number is not finite", ErrInvalid, k)
			}
			out[k] = v
		case float32:
			out[k] = float64(v)
		case int:
			out[k] = float64(v)
		case int64:
			out[k] = float64(v)
		default:
			return nil, fmt.Errorf("%w: attribute %q: %T is not a string, number or boolean", ErrInvalid, k, v)
		}
	}
	return out, nil
}

func checkAttrKey(k string) error {
	if k == "" || utf8.RuneCountInString(k) > maxKeyChars || !utf8.ValidString(k) {
		return fmt.Errorf("%w: attribute key must be 1 to %d characters", ErrInvalid, maxKeyChars)
	}
	return nil
}
