package testmodel

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/warden-llm/warden/engine/gguf"
)

func TestVocabStructure(t *testing.T) {
	const size = 5000
	v, err := buildVocab(size)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.tokens) != size || len(v.scores) != size || len(v.types) != size {
		t.Fatalf("arrays of %d, %d, %d entries, want %d", len(v.tokens), len(v.scores), len(v.types), size)
	}
	special := []struct {
		id    int
		token string
		typ   int32
	}{
		{unkID, "<unk>", tokenUnknown},
		{bosID, "<s>", tokenControl},
		{eosID, "</s>", tokenControl},
		{imStartID, "<|im_start|>", tokenControl},
		{imEndID, "<|im_end|>", tokenControl},
		{5, "<0x00>", tokenByte},
		{5 + 0x0A, "<0x0A>", tokenByte},
		{5 + 0xFF, "<0xFF>", tokenByte},
		{5 + 256, spaceMark, tokenNormal},
	}
	for _, s := range special {
		if v.tokens[s.id] != s.token || v.types[s.id] != s.typ {
			t.Errorf("token %d = %q type %d, want %q type %d", s.id, v.tokens[s.id], v.types[s.id], s.token, s.typ)
		}
	}
	ids := make(map[string]int, size)
	for id, tok := range v.tokens {
		if prev, dup := ids[tok]; dup {
			t.Errorf("token %q at ids %d and %d", tok, prev, id)
		}
		ids[tok] = id
		if id >= 5+256 && (v.types[id] != tokenNormal || !utf8.ValidString(tok)) {
			t.Errorf("token %d %q: type %d, want a normal UTF-8 piece", id, tok, v.types[id])
		}
	}
	// SPM merges pairs of adjacent pieces, so a multi-character word piece
	// is only reachable if the piece one character shorter exists, and the
	// longer piece must score higher for the merge to happen first.
	base := BaseVocabSize()
	for id := 5 + 256; id < size; id++ {
		tok := v.tokens[id]
		if !strings.HasPrefix(tok, spaceMark) {
			if id >= base || utf8.RuneCountInString(tok) != 1 {
				t.Errorf("token %d %q: want a single character or a ▁-prefixed piece", id, tok)
			}
			continue
		}
		if id < base && tok != spaceMark {
			_, last := utf8.DecodeLastRuneInString(tok)
			prefix := tok[:len(tok)-last]
			pid, ok := ids[prefix]
			if !ok {
				t.Errorf("piece %q has no prefix piece %q", tok, prefix)
			} else if v.scores[pid] >= v.scores[id] {
				t.Errorf("piece %q scores %v, not above its prefix's %v", tok, v.scores[id], v.scores[pid])
			}
		}
	}
	for _, w := range []string{"▁the", "▁hello", "▁world", "▁assistant", "▁a", "▁i"} {
		if _, ok := ids[w]; !ok {
			t.Errorf("vocabulary lacks %q", w)
		}
	}
}

func TestVocabSizes(t *testing.T) {
	base := BaseVocabSize()
	if base < 1000 || base > 2000 {
		t.Errorf("base vocabulary of %d tokens; expected over a thousand", base)
	}
	if _, err := buildVocab(base - 1); err == nil {
		t.Error("vocabulary below the base size built")
	}
	small, _ := buildVocab(base)
	large, _ := buildVocab(32000)
	for i, tok := range small.tokens {
		if large.tokens[i] != tok || large.types[i] != small.types[i] {
			t.Fatalf("token %d differs between vocabulary sizes: %q vs %q", i, tok, large.tokens[i])
		}
	}
	for _, tok := range large.tokens[base:] {
		if !strings.HasPrefix(tok, spaceMark) || utf8.RuneCountInString(tok) < 7 {
			t.Fatalf("filler %q is not a ▁ and three syllables or more", tok)
		}
	}
}

// spmTokenize mimics llama.cpp's SPM tokenizer: spaces become ▁ (with one
// prepended), then the adjacent pair whose concatenation is the highest
// scoring token (leftmost on ties) is merged until no pair forms a token;
// pieces missing from the vocabulary fall back to byte tokens.
func spmTokenize(v vocab, text string) []string {
	ids := make(map[string]int, len(v.tokens))
	for id, tok := range v.tokens {
		ids[tok] = id
	}
	text = spaceMark + strings.ReplaceAll(text, " ", spaceMark)
	var syms []string
	for _, r := range text {
		syms = append(syms, string(r))
	}
	for {
		best, bestScore := -1, float32(0)
		for i := 0; i+1 < len(syms); i++ {
			if id, ok := ids[syms[i]+syms[i+1]]; ok && (best < 0 || v.scores[id] > bestScore) {
				best, bestScore = i, v.scores[id]
			}
		}
		if best < 0 {
			break
		}
		syms[best] += syms[best+1]
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	var out []string
	for _, s := range syms {
		if _, ok := ids[s]; ok {
			out = append(out, s)
			continue
		}
		for _, b := range []byte(s) {
			out = append(out, fmt.Sprintf("<0x%02X>", b))
		}
	}
	return out
}

func TestSPMTokenization(t *testing.T) {
	v, err := buildVocab(32000) // fillers must not disturb word merges
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ text, want string }{
		{"the", "▁the"},
		{"hello world", "▁hello ▁world"},
		{"the assistant answer", "▁the ▁assistant ▁answer"},
		{"thereby", "▁there b y"},
		{"Hi!", "▁ H i !"},
		{"é", "▁ <0xC3> <0xA9>"},
	}
	for _, tt := range tests {
		if got := strings.Join(spmTokenize(v, tt.text), " "); got != tt.want {
			t.Errorf("tokenize(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestEOSFollowsTemplate(t *testing.T) {
	s := Demo()
	s.ChatTemplate = ""
	kvs, err := metadata(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		switch kv.Key {
		case "tokenizer.ggml.eos_token_id":
			if kv.Value.Any() != uint32(eosID) {
				t.Errorf("eos = %v without a ChatML template, want %d", kv.Value.Any(), eosID)
			}
		case "tokenizer.chat_template":
			t.Error("empty chat template written")
		}
	}
}

func TestValidate(t *testing.T) {
	for _, s := range []Spec{Demo(), TinyLlama(), multiChunk(gguf.TypeF32)} {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	tests := []struct {
		name   string
		change func(*Spec)
		want   string
	}{
		{"no name", func(s *Spec) { s.Name = "" }, "empty name"},
		{"zero embd", func(s *Spec) { s.Embd = 0 }, "Embd 0 out of range"},
		{"huge embd", func(s *Spec) { s.Embd = 1 << 20 }, "Embd 1048576 out of range"},
		{"zero layers", func(s *Spec) { s.Layers = 0 }, "Layers 0"},
		{"zero heads", func(s *Spec) { s.Heads = 0 }, "Heads 0"},
		{"heads do not divide embd", func(s *Spec) { s.Heads = 3 }, "not divisible by Heads 3"},
		{"kv heads do not divide heads", func(s *Spec) { s.Heads, s.HeadsKV = 4, 3 }, "not divisible by HeadsKV 3"},
		{"odd head dimension", func(s *Spec) { s.Type, s.Embd, s.Heads, s.HeadsKV = gguf.TypeF32, 30, 2, 2 }, "head dimension 15 is odd"},
		{"ffn not blocks", func(s *Spec) { s.FFN = 100 }, "FFN 100 not a multiple"},
		{"embd not blocks", func(s *Spec) { s.Type, s.Embd, s.Heads, s.HeadsKV = gguf.TypeQ4_0, 80, 2, 1 }, "Embd 80 not a multiple"},
		{"vocab too small", func(s *Spec) { s.Vocab = 100 }, "Vocab 100 out of range"},
		{"zero context", func(s *Spec) { s.Context = 0 }, "Context 0"},
		{"k-quant", func(s *Spec) { s.Type = gguf.TypeQ4_K }, "unsupported weight type Q4_K"},
	}
	for _, tt := range tests {
		s := Demo()
		tt.change(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	ok := Demo()
	ok.Type, ok.Embd, ok.FFN = gguf.TypeF16, 80, 100 // no block constraint
	if err := ok.Validate(); err != nil {
		t.Errorf("F16 with unblocked shapes: %v", err)
	}
}

func TestParseType(t *testing.T) {
	for name, want := range map[string]gguf.GGMLType{"f32": gguf.TypeF32, "F16": gguf.TypeF16, "q8_0": gguf.TypeQ8_0, "Q4_0": gguf.TypeQ4_0} {
		if got, err := ParseType(name); err != nil || got != want {
			t.Errorf("ParseType(%q) = %v, %v", name, got, err)
		}
	}
	for _, name := range []string{"", "q4_k", "bf16", "q4"} {
		if _, err := ParseType(name); err == nil {
			t.Errorf("ParseType(%q) succeeded", name)
		}
	}
}
