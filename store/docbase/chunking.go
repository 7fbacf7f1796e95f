package docbase

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ChunkingStrategy is OpenAI's chunking_strategy: Type "auto" (800 tokens
// with 400 overlapping) or "static" with MaxChunkSizeTokens 100–4096 and
// ChunkOverlapTokens at most half of it.
type ChunkingStrategy struct {
	Type               string `json:"type"`
	MaxChunkSizeTokens int    `json:"max_chunk_size_tokens,omitempty"`
	ChunkOverlapTokens int    `json:"chunk_overlap_tokens,omitempty"`
}

// OpenAI's defaults and bounds.
const (
	AutoChunkTokens   = 800
	AutoOverlapTokens = 400
	MinChunkTokens    = 100
	MaxChunkTokens    = 4096
)

// Normalize checks s and turns "auto" (or the zero value) into the static
// strategy it stands for, which is what a store file records.
func (s ChunkingStrategy) Normalize() (ChunkingStrategy, error) {
	switch s.Type {
	case "", "auto":
		if s.MaxChunkSizeTokens != 0 || s.ChunkOverlapTokens != 0 {
			return ChunkingStrategy{}, fmt.Errorf("%w: chunking strategy auto takes no sizes", ErrInvalid)
		}
		return ChunkingStrategy{Type: "static", MaxChunkSizeTokens: AutoChunkTokens, ChunkOverlapTokens: AutoOverlapTokens}, nil
	case "static":
		if s.MaxChunkSizeTokens < MinChunkTokens || s.MaxChunkSizeTokens > MaxChunkTokens {
			return ChunkingStrategy{}, fmt.Errorf("%w: max_chunk_size_tokens %d: want %d to %d",
				ErrInvalid, s.MaxChunkSizeTokens, MinChunkTokens, MaxChunkTokens)
		}
		if s.ChunkOverlapTokens < 0 || s.ChunkOverlapTokens > s.MaxChunkSizeTokens/2 {
			return ChunkingStrategy{}, fmt.Errorf("%w: chunk_overlap_tokens %d: want 0 to half of max_chunk_size_tokens (%d)",
				ErrInvalid, s.ChunkOverlapTokens, s.MaxChunkSizeTokens/2)
		}
		return s, nil
	}
	return ChunkingStrategy{}, fmt.Errorf("%w: chunking strategy %q: want auto or static", ErrInvalid, s.Type)
}

// TextChunk is one piece of a split text.
type TextChunk struct {
	Text   string
	Tokens int
}

// Split cuts text into chunks of at most s's maximum tokens, consecutive
// chunks sharing about s's overlap, counting tokens with count (the
// embedding model's tokenizer). It cuts between words: the text is split
// into words with their following spaces, each counted alone, windows are
// built from those counts, and each window is counted again whole and
// shrunk if the tokenizer counts it longer than its parts (token counts are
// not exactly additive). A word longer than a chunk is cut between runes.
func Split(text string, s ChunkingStrategy, count func(string) int) ([]TextChunk, error) {
	s, err := s.Normalize()
	if err != nil {
		return nil, err
	}
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	}
	maxTokens, overlap := s.MaxChunkSizeTokens, s.ChunkOverlapTokens
	var words []string
	var sizes []int
	for _, w := range splitWords(text) {
		n := count(w)
		if n <= maxTokens {
			words, sizes = append(words, w), append(sizes, n)
			continue
		}
		for _, p := range splitLong(w, maxTokens, count) {
			words, sizes = append(words, p), append(sizes, count(p))
		}
	}
	var chunks []TextChunk
	for start := 0; start < len(words); {
		end, total := start, 0
		for end < len(words) && (end == start || total+sizes[end] <= maxTokens) {
			total += sizes[end]
			end++
		}
		chunk := strings.Join(words[start:end], "")
		n := count(chunk)
		for n > maxTokens && end-start > 1 {
			end--
			chunk = strings.Join(words[start:end], "")
			n = count(chunk)
		}
		if trimmed := strings.TrimSpace(chunk); trimmed != "" {
			chunks = append(chunks, TextChunk{Text: trimmed, Tokens: count(trimmed)})
		}
		if end == len(words) {
			break
		}
		// Step back over about overlap tokens of words, always moving on.
		next, back := end, 0
		for next > start+1 && back+sizes[next-1] <= overlap {
			next--
			back += sizes[next]
		}
		start = next
	}
	return chunks, nil
}

// splitWords cuts text after each run of spaces, keeping every byte.
func splitWords(text string) []string {
	var words []string
	start, inSpace := 0, false
	for i, r := range text {
		sp := unicode.IsSpace(r)
		if inSpace && !sp {
			words = append(words, text[start:i])
			start = i
		}
		inSpace = sp
	}
	if start < len(text) {
		words = append(words, text[start:])
	}
	return words
}

// splitLong cuts a word longer than limit tokens into the longest rune
// prefixes that fit, found by bisection.
func splitLong(w string, limit int, count func(string) int) []string {
	var parts []string
	for w != "" {
		runes := []rune(w)
		lo, hi := 1, len(runes) // the longest prefix that fits is in [lo, hi]
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if count(string(runes[:mid])) <= limit {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		p := string(runes[:lo])
		parts = append(parts, p)
		w = w[len(p):]
	}
	return parts
}
