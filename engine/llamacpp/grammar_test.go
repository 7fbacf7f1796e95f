package llamacpp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ollama/ollama/llama"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/gbnf"
	"github.com/warden-llm/warden/engine/gguf"
)

// grammarCases are grammars at the edges of what llama.cpp's parser takes.
var grammarCases = []string{
	`root ::= "a"`,
	"root ::= \"a\"\r\nb ::= [x-z]\r\n",
	`root ::= "\x41\u00e9\U0001F600\t\r\n\\\"\[\]" [^a-c\]] .`,
	`root ::= ("a" | "b")+ "c"? "d"* "e"{2} "f"{1,} "g"{0,3}`,
	`root ::= "(" root ")" | "x"`,
	"root ::= a\na ::= \"\" | \"x\"",
	`root ::= []`,
	`root ::= root "a"`,
	"root ::= a \"x\"\na ::= b\nb ::= root",
	"root ::= e root\ne ::= | \"x\"",
	"root ::= e root\ne ::= f\nf ::= | \"x\"", // e may be empty only through f: llama.cpp does not see it
	`root ::= "x"* root`,
	`root ::= "x"? root`,
	`root ::= ("x" | ) root`,
	`root ::= a`,
	`a ::= "x"`,
	`root ::= "x"{2000}`,
	`root ::= "x"{2001}`,
	`root ::= "x"{0,2001}`,
	`root ::= "\q"`,
	`root ::= "\x4"`,
	`root ::= "abc`,
	`root ::= [abc`,
	`root ::= ("a"`,
	`root ::= * "a"`,
	`root = "a"`,
	"root ::= \"a\" )",
	"root ::= \"a\"\nroot_1 ::= \"b\"\nx ::= (\"c\")",
	"root ::= x\nx ::= (\"c\") root_2\nroot_2 ::= \"d\"",
	"",
	"# only a comment\n",
	`root ::= [a-]`,
	`root ::= [-a]`,
	`root ::= "a" {2}`,
	`root ::= "a"{ 2 , 3 }`,
}

// Parse must agree with llama.cpp on every grammar within Warden's limits:
// a grammar Parse accepts and llama.cpp refuses is a crash in the server.
func TestParseAgreesWithLlamaCpp(t *testing.T) {
	for _, src := range grammarCases {
		checkAgreement(t, src)
	}
}

func checkAgreement(t *testing.T, src string) {
	t.Helper()
	_, err := gbnf.Parse(src)
	var gerr *gbnf.Error
	if errors.As(err, &gerr) && gerr.Limit {
		return // refused before llama.cpp could loop or overflow on it
	}
	if ours, theirs := err == nil, llamaAcceptsGrammar(src); ours != theirs {
		t.Errorf("grammar %q: Parse says %v (%v), llama.cpp says %v", src, ours, err, theirs)
	}
}

func FuzzParseAgreesWithLlamaCpp(f *testing.F) {
	for _, src := range grammarCases {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if strings.ContainsRune(src, 0) {
			return // a C string ends there: llama.cpp reads another grammar
		}
		checkAgreement(t, src)
	})
}

// A grammar that passes CheckAlphabet never leaves llama.cpp without an
// allowed token: walk random paths through it with a small vocabulary, as
// the sampler would, and look for a step where every token is refused.
func TestAlphabetCheckPreventsDeadEnds(t *testing.T) {
	pieces := walkPieces()
	ids := make([]uint32, len(pieces))
	for i := range ids {
		ids[i] = uint32(i)
	}
	alphabet := gbnf.NewAlphabet(pieces[1:]) // 0 ends generation
	schemas := []string{
		`{"type":"object","properties":{"a":{"type":"string","maxLength":3},"b":{"type":"integer"}},"required":["a","b"]}`,
		`{"type":"array","items":{"enum":["ab","ba",null]},"minItems":1,"maxItems":3}`,
		`{"type":"object","properties":{"x":{"type":"string","pattern":"^a+b$"}},"required":["x"]}`,
		`{"type":"object","properties":{"e":{"const":"é"}},"required":["e"]}`,
		`{"type":"object","properties":{"e":{"const":"€"}},"required":["e"]}`,
	}
	var checked int
	for _, schema := range schemas {
		grammar, err := grammarFor(engine.Format{JSON: true, Schema: []byte(schema), Prefix: "a", Suffix: "b"}, alphabet)
		if err != nil {
			if !strings.Contains(schema, "€") {
				t.Errorf("schema %s: %v", schema, err)
			}
			continue
		}
		checked++
		rng := rand.New(rand.NewPCG(1, uint64(len(schema))))
		for walk := range 50 {
			if dead := walkGrammar(grammar, ids, rng); dead != "" {
				t.Fatalf("schema %s, walk %d: no token allowed after %q", schema, walk, dead)
			}
		}
	}
	if checked < 4 {
		t.Fatalf("only %d schemas passed the check", checked)
	}

	// The walk does find the dead end the check prevents: "€" passes for
	// a vocabulary with byte tokens, and this one has none.
	var everyByte []string
	for b := range 256 {
		everyByte = append(everyByte, string([]byte{byte(b)}))
	}
	grammar, err := grammarFor(engine.Format{JSON: true, Schema: []byte(schemas[len(schemas)-1])}, gbnf.NewAlphabet(everyByte))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	if dead := walkGrammar(grammar, ids, rng); !strings.HasSuffix(dead, "␄") {
		t.Errorf("the walk through a grammar needing \"€\" ended with %q, not at a dead end", dead)
	}
}

// walkPieces is a small vocabulary: token 0 ends generation, the rest are
// JSON's punctuation, lower-case letters and digits one by one, a few
// longer pieces, and "é" but no "€".
func walkPieces() []string {
	pieces := []string{"</s>", "{", "}", "\"", ":", ",", " ", "-", "[", "]", "\\", "é", "tr", "ue", "null"}
	for c := 'a'; c <= 'z'; c++ {
		pieces = append(pieces, string(c))
	}
	for c := '0'; c <= '9'; c++ {
		pieces = append(pieces, string(c))
	}
	return pieces
}

// walkGrammar samples one path of up to 60 tokens; it returns the text so
// far when a step allows no token, or "" when the path ended well.
func walkGrammar(grammar string, ids []uint32, rng *rand.Rand) string {
	pieces := walkPieces()
	g := llama.NewGrammar(grammar, ids, pieces, []int32{0})
	if g == nil {
		return "(llama.cpp refused the grammar)"
	}
	defer g.Free()
	var text strings.Builder
	for range 60 {
		tokens := make([]llama.TokenData, len(ids))
		for i, id := range ids {
			tokens[i] = llama.TokenData{ID: int32(id)}
		}
		g.Apply(tokens)
		var allowed []int32
		for _, tok := range tokens {
			if tok.Logit == 0 {
				allowed = append(allowed, tok.ID)
			}
		}
		if len(allowed) == 0 {
			return text.String() + "␄"
		}
		tok := allowed[rng.IntN(len(allowed))]
		if tok == 0 {
			return ""
		}
		g.Accept(tok)
		text.WriteString(pieces[tok])
	}
	return ""
}

// A grammar that slips past the Go checks is still a 400: newSampler asks
// llama.cpp's parser before building the sampler chain.
func TestSamplerRefusesWhatLlamaCppRefuses(t *testing.T) {
	m := loadDemo(t, 1)
	_, err := m.newSampler(engine.Sampling{}, `root ::= root "a"`)
	var inv *engine.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("left-recursive grammar: %v, want an InvalidError", err)
	}
	s, err := m.newSampler(engine.Sampling{}, `root ::= "a"`)
	if err != nil || s == nil {
		t.Fatalf("a good grammar: %v", err)
	}
}

// The crashes of issue 13 and their relatives, against the loaded engine:
// each is an InvalidError, and the model still answers afterwards.
func TestHostileSchemasAreInvalid(t *testing.T) {
	m := loadDemo(t, 1)
	for _, schema := range []string{
		`{"$ref":"#/definitions/a","definitions":{"a":{"$ref":"#/definitions/a"}}}`,
		`{"type":"object","properties":{"a":{"$ref":"#"}},"required":["a"],"allOf":[{"$ref":"#"}]}`,
		`{"type":"string","maxLength":3000}`,
		`{"type":"string","minLength":5,"maxLength":2}`,
		strings.Repeat(`{"type":"array","items":`, 100) + `{}` + strings.Repeat(`}`, 100),
		`{"type":"string","pattern":"^*c{2,4}$"}`, // found by FuzzGenerateFormat: SIGSEGV in the converter
		`{"type":"string","pattern":"^]$"}`,       // the converter loops forever
		`{"type":"string","pattern":"^a(+b)$"}`,
		`{"type":"string","pattern":"^{2}$"}`,
		`{"type":"string","pattern":""}`,
		`{"type":"string","pattern":"^` + strings.Repeat("(", 40) + "a" + strings.Repeat(")", 40) + `$"}`,
	} {
		_, _, err := generate(context.Background(), m, engine.Request{Prompt: "a", MaxTokens: 4,
			Format: engine.Format{JSON: true, Schema: []byte(schema)}})
		var inv *engine.InvalidError
		if !errors.As(err, &inv) || inv.Param != "response_format" {
			t.Errorf("schema %.80s: err = %v, want an InvalidError for response_format", schema, err)
		}
	}
	if _, _, err := generate(context.Background(), m, engine.Request{Prompt: "a", MaxTokens: 4, Format: engine.Format{JSON: true}}); err != nil {
		t.Fatalf("after the hostile schemas: %v", err)
	}
}

// A model whose tokens cannot write what the schema needs gets a 400, not an
// abort in llama.cpp's sampler: the demo model without its byte tokens has
// no way to write "€".
func TestSchemaTheVocabularyCannotWrite(t *testing.T) {
	m := load(t, withoutByteTokens(t), 1)
	format := engine.Format{JSON: true, Schema: []byte(`{"type":"object","properties":{"a":{"const":"€"}},"required":["a"]}`)}
	_, _, err := generate(context.Background(), m, engine.Request{Prompt: "a", MaxTokens: 8, Format: format})
	var inv *engine.InvalidError
	if !errors.As(err, &inv) || !strings.Contains(inv.Message, "no token of this model can write") {
		t.Fatalf("err = %v, want an InvalidError naming the character", err)
	}
	format.Schema = []byte(`{"type":"object","properties":{"a":{"const":"ab"}},"required":["a"]}`)
	if _, _, err := generate(context.Background(), m, engine.Request{Prompt: "a", MaxTokens: 8, Format: format}); err != nil {
		t.Fatalf("a schema the vocabulary can write: %v", err)
	}
}

// withoutByteTokens writes the demo model with its byte-fallback tokens
// turned into ordinary ones, whose text is "<0xE2>" and the like.
func withoutByteTokens(t *testing.T) string {
	t.Helper()
	return rewriteDemo(t, func(f *gguf.File) []gguf.KV {
		kvs := slices.Clone(f.KVs)
		for i, kv := range kvs {
			if kv.Key != "tokenizer.ggml.token_type" {
				continue
			}
			types := slices.Clone(kv.Value.Any().([]int32))
			for id, typ := range types {
				if typ == tokenByte {
					types[id] = tokenNormal
				}
			}
			kvs[i].Value = gguf.Array(types)
		}
		return kvs
	})
}

// Token types of llama.cpp's llama_token_type that the test rewrites.
const (
	tokenNormal = 1
	tokenByte   = 6
)

// FuzzGenerateFormat drives the request values that reach llama.cpp (a JSON
// schema, the affixes around it, stop strings, the prompt and the sampling
// settings) through the real engine. Any input may be refused; none may
// crash the process.
func FuzzGenerateFormat(f *testing.F) {
	add := func(schema, prefix, suffix, stop, prompt string) {
		f.Add(schema, prefix, suffix, stop, prompt, float32(1), float32(0.9), 40, float32(0.05), float32(1.1), 64, float32(0), float32(0), uint32(1))
	}
	add(`{"$ref":"#/definitions/a","definitions":{"a":{"$ref":"#/definitions/a"}}}`, "", "", "\n", "Once upon")
	add(`{"type":"string","maxLength":3000}`, "<tool_call>\n", "\n</tool_call>", "}", "a")
	add(`{"type":"string","minLength":5,"maxLength":2}`, "", "", "", "\xff\xfe")
	add(`{"type":"object","properties":{"a":{"type":"string","pattern":"^(a|b)*c{2,4}$"}}}`, "\x00", "é", "a", "\u202e")
	add(`{"anyOf":[{"type":"integer","minimum":-5,"maximum":5},{"enum":["x",1.5,null,true]}]}`, "", "", "", "")
	add(`{"type":"array","items":{"type":"number"},"minItems":2,"maxItems":2000}`, "", "", "", "")
	add("", "", "", "", "")
	f.Add("", "", "", "", "x", float32(2), float32(0), 1000, float32(1), float32(2), 1<<20, float32(-2), float32(2), uint32(math.MaxUint32))
	f.Add("", "", "", "", "x", float32(math.NaN()), float32(math.Inf(1)), -1, float32(-1), float32(0), -1, float32(3), float32(-3), uint32(0))
	m := loadDemo(f, 1)
	f.Fuzz(func(t *testing.T, schema, prefix, suffix, stop, prompt string,
		temp, topP float32, topK int, minP, repeat float32, lastN int, presence, frequency float32, seed uint32) {
		format := engine.Format{JSON: schema != "" || prefix != "" || suffix != "", Prefix: prefix, Suffix: suffix}
		if schema != "" {
			format.Schema = []byte(schema)
		}
		req := engine.Request{Prompt: prompt, MaxTokens: 6, Format: format, Sampling: engine.Sampling{
			Temperature: temp, TopP: topP, TopK: topK, MinP: minP, RepeatPenalty: repeat, RepeatLastN: lastN,
			PresencePenalty: presence, FrequencyPenalty: frequency, Seed: seed}}
		if stop != "" {
			req.Stop = []string{stop}
		}
		_, _, err := generate(context.Background(), m, req)
		var inv *engine.InvalidError
		if err != nil && !errors.As(err, &inv) {
			t.Fatalf("schema %q: %v", schema, err)
		}
	})
}

func TestCheckPattern(t *testing.T) {
	for _, p := range []string{`^[a-z]+@[a-z]+\.com$`, `^(a|b)*c{2,4}$`, `^\d{3}-\d{4}$`, `^a\]b$`, `^[\]}]x$`, `^.?$`, `^$`, `^a|$`} {
		if err := checkPattern(p); err != nil {
			t.Errorf("checkPattern(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "^", "a$", "^*a$", "^(?a)$", "^a(*)$", "^{1,2}a$", "^a}$", "^a]$", "^" + strings.Repeat("(", 33) + strings.Repeat(")", 33) + "$"} {
		if err := checkPattern(p); err == nil {
			t.Errorf("checkPattern(%q) passed", p)
		}
	}
}

// A schema whose grammar outgrows the binding's buffer (here 300 optional
// properties, which the converter writes in quadratic space) is refused as
// too complex, not handed on cut short.
func TestSchemaGrammarCutShortIsRefused(t *testing.T) {
	var props []string
	for i := range 300 {
		props = append(props, fmt.Sprintf(`"property_%03d":{"type":"integer"}`, i))
	}
	schema := `{"type":"object","properties":{` + strings.Join(props, ",") + `}}`
	if g := llama.SchemaToGrammar([]byte(schema)); len(g) < schemaGrammarBuffer([]byte(schema))-1 {
		t.Fatalf("the grammar (%d bytes) fits the buffer: the test needs a larger schema", len(g))
	}
	_, err := grammarFor(engine.Format{JSON: true, Schema: []byte(schema)}, gbnf.NewAlphabet([]string{"a"}))
	var inv *engine.InvalidError
	if !errors.As(err, &inv) || !strings.Contains(inv.Message, "too complex") {
		t.Fatalf("err = %v, want the schema refused as too complex", err)
	}
}
