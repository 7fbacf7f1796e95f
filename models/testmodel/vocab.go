package testmodel

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Token types of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
const (
	tokenNormal  int32 = 1
	tokenUnknown int32 = 2
	tokenControl int32 = 3
	tokenByte    int32 = 6
)

// Ids of the special tokens, fixed by the vocabulary's construction.
const (
	unkID     = 0
	bosID     = 1
	eosID     = 2
	imStartID = 3
	imEndID   = 4
)

// spaceMark is SentencePiece's word-boundary marker, which replaces spaces.
const spaceMark = "▁"

// vocab is a tokenizer vocabulary in id order.
type vocab struct {
	tokens []string
	scores []float32
	types  []int32
}

// basePieces returns the vocabulary's fixed part: special tokens, the 256
// byte-fallback tokens, single characters, then every prefix of "▁"+word for
// the common words, without duplicates.
func basePieces() ([]string, []int32) {
	tokens := []string{"<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"}
	types := []int32{tokenUnknown, tokenControl, tokenControl, tokenControl, tokenControl}
	for b := range 256 {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, tokenByte)
	}
	seen := make(map[string]bool)
	addNormal := func(piece string) {
		if !seen[piece] {
			seen[piece] = true
			tokens = append(tokens, piece)
			types = append(types, tokenNormal)
		}
	}
	addNormal(spaceMark)
	for c := byte('!'); c <= '~'; c++ { // printable ASCII; spaces become ▁
		addNormal(string(c))
	}
	for _, w := range strings.Fields(commonWords) {
		word := spaceMark + w
		for i := len(spaceMark) + 1; i <= len(word); i++ { // words are ASCII
			addNormal(word[:i])
		}
	}
	return tokens, types
}

// BaseVocabSize returns the size of the built-in vocabulary, the smallest
// allowed Spec.Vocab.
func BaseVocabSize() int {
	tokens, _ := basePieces()
	return len(tokens)
}

// buildVocab returns the base vocabulary padded to size tokens with filler
// words. Normal tokens score higher the longer they are, so SPM merges
// prefer building long pieces; the id-based tiebreak keeps scores distinct.
func buildVocab(size int) (vocab, error) {
	tokens, types := basePieces()
	if size < len(tokens) {
		return vocab{}, fmt.Errorf("vocabulary size %d is below the base size %d", size, len(tokens))
	}
	seen := make(map[string]bool, size)
	for _, t := range tokens {
		seen[t] = true
	}
	for n := 70 * 70; len(tokens) < size; n++ { // three syllables or more
		if w := fillerWord(n); !seen[w] {
			seen[w] = true
			tokens = append(tokens, w)
			types = append(types, tokenNormal)
		}
	}
	scores := make([]float32, size)
	for id, t := range tokens {
		if types[id] == tokenNormal {
			scores[id] = float32(utf8.RuneCountInString(t)) - float32(id)/float32(size)
		}
	}
	return vocab{tokens: tokens, scores: scores, types: types}, nil
}

// fillerWord spells n in base 70 with consonant-vowel syllables, least
// significant first: distinct n give distinct, pronounceable words.
func fillerWord(n int) string {
	const consonants, vowels = "bdfgklmnprstvz", "aeiou"
	const base = len(consonants) * len(vowels)
	var b strings.Builder
	b.WriteString(spaceMark)
	for {
		s := n % base
		b.WriteByte(consonants[s/len(vowels)])
		b.WriteByte(vowels[s%len(vowels)])
		if n /= base; n == 0 {
			return b.String()
		}
	}
}
