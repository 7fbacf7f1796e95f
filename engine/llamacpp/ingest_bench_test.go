package llamacpp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine"
)

// Ingest as the document base does it (server/docbase.go): 256 chunks of
// 100 to 200 tokens, embedded in calls of 64.
const (
	ingestChunks     = 256
	ingestCall       = 64
	ingestMinTokens  = 100
	ingestMaxTokens  = 200
	ingestVocabWords = 2000
)

// miniLM is all-MiniLM-L6-v2's shape (BERT, 6 layers, 384 wide, 12 heads,
// FFN 1536, WordPiece vocabulary of 30,522, 512 positions, mean pooling)
// with random F32 weights: its speed, not its vectors.
func miniLM() bertShape {
	return bertShape{embd: 384, ff: 1536, heads: 12, layers: 6, ctx: 512, vocab: 30522, words: ingestWords()}
}

// ingestWords are made-up words, one vocabulary token each in miniLM, that
// the chunks are written in.
func ingestWords() []string {
	const consonants, vowels = "bdfgklmnprstvz", "aeiou"
	words := make([]string, ingestVocabWords)
	for i := range words {
		var sb strings.Builder
		for n := i + len(consonants)*len(vowels); n > 0; n /= len(consonants) * len(vowels) {
			syllable := n % (len(consonants) * len(vowels))
			sb.WriteByte(consonants[syllable/len(vowels)])
			sb.WriteByte(vowels[syllable%len(vowels)])
		}
		words[i] = sb.String()
	}
	return words
}

// BenchmarkEmbedChunks measures document ingest: how many chunks a second
// Embed turns into vectors, one input at a time (parallel=1) against
// inputs decoded together, for the demo model (llama shape, last-token
// pooling in Go) and a MiniLM-shape BERT (pooled by llama.cpp). make
// bench-ingest runs it.
func BenchmarkEmbedChunks(b *testing.B) {
	models := []struct {
		name     string
		path     string
		parallel []int
	}{
		{"demo", writeDemo(b), []int{1, 4, 8}},
		// llama.cpp pools a sequence within one batch, so the default
		// batch of 512 tokens holds at most 3 of these inputs: 8 slots
		// would decode as 4 do.
		{"minilm", writeBERTShape(b, miniLM()), []int{1, 4}},
	}
	for _, model := range models {
		for _, parallel := range model.parallel {
			b.Run(fmt.Sprintf("%s/parallel=%d", model.name, parallel), func(b *testing.B) {
				m := load(b, model.path, parallel)
				chunks, tokens := writeChunks(b, m)
				ctx := context.Background()
				for b.Loop() {
					for call := range slices.Chunk(chunks, ingestCall) {
						if _, err := m.Embed(ctx, call); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N*len(chunks))/b.Elapsed().Seconds(), "chunks/s")
				b.ReportMetric(float64(tokens)/float64(len(chunks)), "tokens/chunk")
			})
		}
	}
}

// writeChunks writes ingestChunks texts of ingestMinTokens to
// ingestMaxTokens tokens of m's vocabulary, the same on every run, and
// returns them with their token count.
func writeChunks(b *testing.B, m *Model) ([]engine.EmbedInput, int) {
	b.Helper()
	words := ingestWords()
	rng := rand.New(rand.NewPCG(3, 4))
	chunks := make([]engine.EmbedInput, ingestChunks)
	total := 0
	for i := range chunks {
		target := ingestMinTokens + rng.IntN(ingestMaxTokens-ingestMinTokens+1)
		var sb strings.Builder
		n := 0
		for n < target {
			if sb.Len() > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(words[rng.IntN(len(words))])
			tokens, err := m.model.Tokenize(sb.String(), true, false)
			if err != nil {
				b.Fatal(err)
			}
			n = len(tokens)
		}
		chunks[i] = engine.EmbedInput{Text: sb.String()}
		total += n
	}
	return chunks, total
}
