package gguf

import "fmt"

// Tokenizer keys whose arrays llama.cpp reads as raw C arrays indexed by
// token id. A scores or token-type array shorter than the token list, or of
// another element type, would be read out of bounds, so the reader and the
// encoder insist that they match.
const (
	KeyTokens    = "tokenizer.ggml.tokens"
	KeyScores    = "tokenizer.ggml.scores"
	KeyTokenType = "tokenizer.ggml.token_type"
	KeyMerges    = "tokenizer.ggml.merges"
)

// tokenArray is a per-token array and the element type it must have.
type tokenArray struct {
	key  string
	elem ValueType
}

// tokenArrays lists the per-token arrays; a function keeps the list
// immutable.
func tokenArrays() []tokenArray {
	return []tokenArray{{KeyScores, ValueFloat32}, {KeyTokenType, ValueInt32}}
}

// checkTokenizer validates the tokenizer arrays among the metadata that
// lookup finds.
func checkTokenizer(lookup func(string) (Value, bool)) error {
	tokens, ok := lookup(KeyTokens)
	if !ok {
		for _, a := range tokenArrays() {
			if _, ok := lookup(a.key); ok {
				return fmt.Errorf("%s is present without %s", a.key, KeyTokens)
			}
		}
		return nil
	}
	if !isArrayOf(tokens, ValueString) {
		return fmt.Errorf("%s is %s, want an ARRAY of STRING", KeyTokens, describe(tokens))
	}
	n := arrayLen(tokens)
	if n == 0 {
		return fmt.Errorf("%s is empty", KeyTokens)
	}
	for _, a := range tokenArrays() {
		v, ok := lookup(a.key)
		if !ok {
			continue
		}
		if !isArrayOf(v, a.elem) {
			return fmt.Errorf("%s is %s, want an ARRAY of %v", a.key, describe(v), a.elem)
		}
		if m := arrayLen(v); m != n {
			return fmt.Errorf("%s has %d entries but %s has %d", a.key, m, KeyTokens, n)
		}
	}
	if v, ok := lookup(KeyMerges); ok && !isArrayOf(v, ValueString) {
		return fmt.Errorf("%s is %s, want an ARRAY of STRING", KeyMerges, describe(v))
	}
	return nil
}

func isArrayOf(v Value, elem ValueType) bool {
	return v.typ == ValueArray && v.elem == elem
}

// describe names a value's type for error messages, e.g. "ARRAY of UINT8".
func describe(v Value) string {
	if v.typ == ValueArray {
		return fmt.Sprintf("ARRAY of %v", v.elem)
	}
	return v.typ.String()
}

// arrayLen returns the element count of an array value of scalars.
func arrayLen(v Value) int {
	switch xs := v.x.(type) {
	case []string:
		return len(xs)
	case []float32:
		return len(xs)
	case []int32:
		return len(xs)
	case []Value:
		return len(xs)
	}
	return -1 // not reached for the element types checked here
}
