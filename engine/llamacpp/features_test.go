package llamacpp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/testmodel"
)

func TestJSONObjectFormatParses(t *testing.T) {
	m := loadDemo(t, 1)
	for seed := range uint32(3) {
		req := engine.Request{Prompt: "the cat", MaxTokens: 400, Format: engine.Format{JSON: true},
			Sampling: engine.Sampling{Temperature: 1, Seed: seed}}
		text, res, err := generate(context.Background(), m, req)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if res.FinishReason != engine.FinishStop || json.Unmarshal([]byte(text), &obj) != nil {
			t.Errorf("seed %d: finish %s, text %q is not a JSON object", seed, res.FinishReason, text)
		}
	}
}

func TestJSONSchemaFormatWithAffixes(t *testing.T) {
	m := loadDemo(t, 1)
	schema := `{"type":"object","properties":{"n":{"type":"integer"},"ok":{"type":"boolean"}},"required":["n","ok"],"additionalProperties":false}`
	req := engine.Request{Prompt: "the cat", MaxTokens: 200, Sampling: engine.Sampling{Temperature: 1, Seed: 7},
		Format: engine.Format{JSON: true, Schema: []byte(schema), Prefix: "<x>\n", Suffix: "\n</x>"}}
	text, res, err := generate(context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(text, "<x>\n")
	body, ok2 := strings.CutSuffix(body, "\n</x>")
	var v struct {
		N  *int
		OK *bool
	}
	if res.FinishReason != engine.FinishStop || !ok || !ok2 || json.Unmarshal([]byte(body), &v) != nil || v.N == nil || v.OK == nil {
		t.Fatalf("finish %s, text %q does not follow the schema and affixes", res.FinishReason, text)
	}

	// Cut short, the text is the grammar's prefix and says so.
	req.MaxTokens = 3
	text, res, err = generate(context.Background(), m, req)
	if err != nil || res.FinishReason != engine.FinishLength || !strings.HasPrefix("<x>\n{", text[:min(len(text), 5)]) {
		t.Errorf("cut short: %q, %+v, %v", text, res, err)
	}
}

func TestBadSchemaIsInvalid(t *testing.T) {
	m := loadDemo(t, 1)
	for _, schema := range []string{`{"type":`, `{"type":"string","maxLength":1000000}`} {
		_, _, err := generate(context.Background(), m, engine.Request{Prompt: "a", Format: engine.Format{JSON: true, Schema: []byte(schema)}})
		var inv *engine.InvalidError
		if !errors.As(err, &inv) || inv.Param != "response_format" {
			t.Errorf("schema %s: err = %v, want an InvalidError for response_format", schema, err)
		}
	}
}

func TestRenameRule(t *testing.T) {
	g := "root ::= \"root\" [root] rooted root # root\nrooted ::= root{2,3}\n"
	got := renameRule(g, "root", "x")
	if want := "x ::= \"root\" [root] rooted x # root\nrooted ::= x{2,3}\n"; got != want {
		t.Errorf("renameRule = %q; want %q", got, want)
	}
	if got := gbnfLiteral("a\"\\\n\x01é"); got != `"a\"\\\n\x01é"` {
		t.Errorf("gbnfLiteral = %s", got)
	}
}

func TestLogprobs(t *testing.T) {
	m := loadDemo(t, 1)
	var tokens []engine.TokenLogprob
	req := engine.Request{Prompt: "the cat", MaxTokens: 12, IgnoreEOS: true, TopLogprobs: 3,
		Logprobs: func(lp []engine.TokenLogprob) { tokens = append(tokens, lp...) }}
	text, res, err := generate(context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != res.CompletionTokens {
		t.Fatalf("%d logprobs for %d tokens", len(tokens), res.CompletionTokens)
	}
	var joined strings.Builder
	for i, tok := range tokens {
		joined.WriteString(tok.Token)
		if tok.Logprob > 0 || len(tok.Top) != 3 || tok.Top[0].Logprob < tok.Top[1].Logprob || tok.Top[1].Logprob < tok.Top[2].Logprob {
			t.Errorf("token %d: %+v", i, tok)
		}
		// Greedy sampling picks the most likely token.
		if tok.Top[0].Token != tok.Token || tok.Top[0].Logprob != tok.Logprob {
			t.Errorf("token %d: chose %q (%g), most likely %q (%g)", i, tok.Token, tok.Logprob, tok.Top[0].Token, tok.Top[0].Logprob)
		}
	}
	if joined.String() != text {
		t.Errorf("tokens spell %q, text is %q", joined.String(), text)
	}
}

func TestLogprobTrailWaitsForText(t *testing.T) {
	var got []string
	trail := &logprobTrail{report: func(lp []engine.TokenLogprob) {
		for _, l := range lp {
			got = append(got, l.Token)
		}
	}}
	trail.add(engine.TokenLogprob{}, "\xc3") // half of "é"
	trail.release(0, false)
	trail.add(engine.TokenLogprob{}, "\xa9x")
	trail.release(3, false) // "éx"
	if len(got) != 2 {
		t.Fatalf("reported %q after the character completed", got)
	}
	trail.add(engine.TokenLogprob{}, "ST")
	trail.add(engine.TokenLogprob{}, "OP")
	trail.release(1, true) // a stop string cut the text after "S"
	if len(got) != 3 || got[2] != "ST" {
		t.Errorf("reported %q at the stop", got)
	}
}

func TestTopKAndLogSumExp(t *testing.T) {
	xs := []float32{1, 5, 3, 5, -2, 4}
	if got := topK(xs, 3); len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 5 {
		t.Errorf("topK = %v", got)
	}
	want := math.Log(math.Exp(1) + 2*math.Exp(5) + math.Exp(3) + math.Exp(-2) + math.Exp(4))
	if got := logSumExp(xs); math.Abs(float64(got)-want) > 1e-5 {
		t.Errorf("logSumExp = %g, want %g", got, want)
	}
	if got := logSumExp([]float32{1000, 1000}); math.IsInf(float64(got), 0) {
		t.Error("logSumExp overflows")
	}
}

func TestEmbedLastToken(t *testing.T) {
	m := loadDemo(t, 2)
	if m.pooling != poolLast {
		t.Fatalf("demo model pools %s, want last", m.pooling)
	}
	ctx := context.Background()
	tokens, err := m.model.Tokenize("the cat sat", true, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Embed(ctx, []engine.EmbedInput{{Text: "the cat sat"}, {Text: "a dog ran"}, {Tokens: tokens}})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if n := norm(e.Vector); math.Abs(n-1) > 1e-4 || len(e.Vector) != m.model.NEmbd() {
			t.Errorf("vector %d: length %g, %d dimensions", i, n, len(e.Vector))
		}
	}
	if got[0].Tokens != len(tokens) || cosine(got[0].Vector, got[2].Vector) < 0.9999 {
		t.Errorf("text and its tokens embed differently: %d tokens vs %d, cosine %g", got[0].Tokens, len(tokens), cosine(got[0].Vector, got[2].Vector))
	}
	if cosine(got[0].Vector, got[1].Vector) > 0.9999 {
		t.Error("different texts embed the same")
	}
	// A generation's KV left in the slot must not change the result.
	if _, _, err := generate(ctx, m, engine.Request{Prompt: "the cat sat on", MaxTokens: 4}); err != nil {
		t.Fatal(err)
	}
	again, err := m.Embed(ctx, []engine.EmbedInput{{Text: "the cat sat"}})
	if err != nil || cosine(again[0].Vector, got[0].Vector) < 0.9999 {
		t.Errorf("embedding changed after reuse: %v", err)
	}

	_, err = m.Embed(ctx, []engine.EmbedInput{{Tokens: []int{1, 1 << 30}}})
	var inv *engine.InvalidError
	if !errors.As(err, &inv) {
		t.Errorf("unknown token: err = %v", err)
	}
}

// A generative model whose metadata asks for mean or CLS pooling gets it.
func TestEmbedPoolingFromMetadata(t *testing.T) {
	ctx := context.Background()
	last := loadDemo(t, 1)
	tokens, _ := last.model.Tokenize("the cat sat", true, false)
	prefix := func(n int) []float32 {
		e, err := last.Embed(ctx, []engine.EmbedInput{{Tokens: tokens[:n]}})
		if err != nil {
			t.Fatal(err)
		}
		return e[0].Vector
	}

	cls := load(t, withPooling(t, poolCLS), 1)
	a, err := cls.Embed(ctx, []engine.EmbedInput{{Text: "the cat sat"}, {Text: "a dog ran"}})
	if err != nil {
		t.Fatal(err)
	}
	// Every input starts with BOS, and causal attention makes its state
	// the same whatever follows.
	if cosine(a[0].Vector, a[1].Vector) < 0.9999 || cosine(a[0].Vector, prefix(1)) < 0.9999 {
		t.Error("CLS pooling is not the first token's state")
	}

	// Mean pooling lies in the span of the token states, with positive
	// weights: solve for them on a two-token input.
	mean := load(t, withPooling(t, poolMean), 1)
	e, err := mean.Embed(ctx, []engine.EmbedInput{{Tokens: tokens[:2]}})
	if err != nil {
		t.Fatal(err)
	}
	alpha, beta, residual := project(e[0].Vector, prefix(1), prefix(2))
	t.Logf("mean embedding = %g·h0 + %g·h1 + residual %g", alpha, beta, residual)
	if alpha < 0.05 || beta < 0.05 || residual > 1e-3 { // last-token pooling would give α = 0
		t.Errorf("mean embedding = %g·h0 + %g·h1 + residual %g", alpha, beta, residual)
	}
}

// withPooling writes the demo model with <arch>.pooling_type set.
func withPooling(t *testing.T, p pooling) string {
	t.Helper()
	return rewriteDemo(t, func(f *gguf.File) []gguf.KV {
		return append(f.KVs, gguf.KV{Key: f.Architecture() + ".pooling_type", Value: gguf.Scalar(uint32(p))})
	})
}

// rewriteDemo writes the demo model with the metadata edit returns, and
// returns the file's path.
func rewriteDemo(t *testing.T, edit func(*gguf.File) []gguf.KV) string {
	t.Helper()
	var buf bytes.Buffer
	if err := testmodel.Write(&buf, testmodel.Demo()); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	f, err := gguf.Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := gguf.NewEncoder(edit(f), f.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "demo.gguf")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	err = enc.Encode(out, func(i int, w io.Writer) error {
		ti := f.Tensors[i]
		start := f.DataOffset + int64(ti.Offset)
		_, err := w.Write(data[start : start+int64(ti.Size)])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func norm(v []float32) float64 { return math.Sqrt(dot(v, v)) }

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func cosine(a, b []float32) float64 { return dot(a, b) / norm(a) / norm(b) }

// project solves v ≈ α·x + β·y by least squares and returns the residual's
// length.
func project(v, x, y []float32) (alpha, beta, residual float64) {
	xx, xy, yy, vx, vy := dot(x, x), dot(x, y), dot(y, y), dot(v, x), dot(v, y)
	det := xx*yy - xy*xy
	alpha = (vx*yy - vy*xy) / det
	beta = (vy*xx - vx*xy) / det
	var r float64
	for i := range v {
		d := float64(v[i]) - alpha*float64(x[i]) - beta*float64(y[i])
		r += d * d
	}
	return alpha, beta, math.Sqrt(r)
}
