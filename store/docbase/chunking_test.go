package docbase

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func words(s string) int { return len(strings.Fields(s)) }

func TestChunkingStrategy(t *testing.T) {
	auto, err := ChunkingStrategy{Type: "auto"}.Normalize()
	if err != nil || auto != (ChunkingStrategy{Type: "static", MaxChunkSizeTokens: 800, ChunkOverlapTokens: 400}) {
		t.Fatalf("auto: %+v, %v", auto, err)
	}
	if zero, err := (ChunkingStrategy{}).Normalize(); err != nil || zero != auto {
		t.Fatalf("zero strategy: %+v, %v", zero, err)
	}
	for _, ok := range []ChunkingStrategy{
		{Type: "static", MaxChunkSizeTokens: 100, ChunkOverlapTokens: 50},
		{Type: "static", MaxChunkSizeTokens: 4096, ChunkOverlapTokens: 0},
	} {
		if _, err := ok.Normalize(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, bad := range []ChunkingStrategy{
		{Type: "static", MaxChunkSizeTokens: 99},
		{Type: "static", MaxChunkSizeTokens: 4097},
		{Type: "static", MaxChunkSizeTokens: 100, ChunkOverlapTokens: 51},
		{Type: "static", MaxChunkSizeTokens: 100, ChunkOverlapTokens: -1},
		{Type: "auto", MaxChunkSizeTokens: 800},
		{Type: "semantic"},
	} {
		if _, err := bad.Normalize(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
}

func TestSplit(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "w%d ", i)
		if i%37 == 0 {
			b.WriteString("\n\n")
		}
	}
	s := ChunkingStrategy{Type: "static", MaxChunkSizeTokens: 100, ChunkOverlapTokens: 30}
	chunks, err := Split(b.String(), s, words)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 13 || len(chunks) > 16 { // 1000 words, 70 new per chunk
		t.Fatalf("%d chunks, want about 1000/70", len(chunks))
	}
	next := 0 // the first word not yet seen
	for i, c := range chunks {
		ws := strings.Fields(c.Text)
		if c.Tokens != len(ws) || c.Tokens > 100 {
			t.Fatalf("chunk %d: %d tokens (counted %d), max 100", i, len(ws), c.Tokens)
		}
		var first int
		fmt.Sscanf(ws[0], "w%d", &first)
		if i > 0 && (first >= next || next-first > 30) {
			t.Fatalf("chunk %d starts at word %d: want an overlap of at most 30 with the previous, which ended before %d", i, first, next)
		}
		for j, w := range ws {
			if w != fmt.Sprintf("w%d", first+j) {
				t.Fatalf("chunk %d: word %d is %q, want w%d", i, j, w, first+j)
			}
		}
		next = first + len(ws)
	}
	if next != 1000 {
		t.Fatalf("the chunks end at word %d, want 1000", next)
	}

	// A tokenizer that counts a text as more than its words (one token
	// more per ten words) still gets chunks within the limit.
	grows := func(s string) int { n := words(s); return n + n/10 }
	chunks, err = Split(b.String(), s, grows)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range chunks {
		if c.Tokens != grows(c.Text) || c.Tokens > 100 || (c.Tokens < 90 && i < len(chunks)-1) {
			t.Fatalf("non-additive tokenizer: chunk %d has %d tokens (reported %d), want 90 to 100", i, grows(c.Text), c.Tokens)
		}
	}

	// A word longer than a chunk is cut between runes.
	long := strings.Repeat("é", 1000)
	perFour := func(s string) int { return (utf8.RuneCountInString(s) + 3) / 4 }
	chunks, err = Split(long, ChunkingStrategy{Type: "static", MaxChunkSizeTokens: 100}, perFour)
	if err != nil {
		t.Fatal(err)
	}
	var total int
	for _, c := range chunks {
		if c.Tokens > 100 || !utf8.ValidString(c.Text) {
			t.Fatalf("long word chunk of %d tokens, valid UTF-8 %v", c.Tokens, utf8.ValidString(c.Text))
		}
		total += utf8.RuneCountInString(c.Text)
	}
	if len(chunks) != 3 || total != 1000 {
		t.Fatalf("long word: %d chunks of %d runes in all, want 3 and 1000", len(chunks), total)
	}

	if _, err := Split("x", ChunkingStrategy{Type: "static"}, words); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid strategy: %v", err)
	}
	if chunks, err := Split("  \n ", s, words); err != nil || len(chunks) != 0 {
		t.Fatalf("blank text: %v, %v", chunks, err)
	}
}
