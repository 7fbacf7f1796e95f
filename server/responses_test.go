package server

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	"github.com/openai/openai-go/responses"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/engine/chat"
	"github.com/warden-llm/warden/store/audit"
	"github.com/warden-llm/warden/store/docbase"
)

// embedDims is the test document base's dimensions.
const embedDims = 8

// bagEmbedder is the document base's embedding model in these tests: a
// text's words, lower-cased, hashed into embedDims buckets and normalised,
// so texts sharing words are near and the same text always embeds alike.
type bagEmbedder struct{}

func (bagEmbedder) Info() engine.ModelInfo { return engine.ModelInfo{Name: "fake-embed", Context: 512} }

func (bagEmbedder) Generate(context.Context, engine.Request, func(string) error) (engine.Result, error) {
	return engine.Result{}, errors.New("fake-embed does not generate")
}

func (bagEmbedder) CountTokens(text string) (int, error) { return len(strings.Fields(text)), nil }

func (bagEmbedder) Embed(_ context.Context, inputs []engine.EmbedInput) ([]engine.Embedding, error) {
	out := make([]engine.Embedding, len(inputs))
	for i, in := range inputs {
		out[i] = engine.Embedding{Vector: bagOfWords(in.Text), Tokens: len(strings.Fields(in.Text))}
	}
	return out, nil
}

func bagOfWords(text string) []float32 {
	v := make([]float32, embedDims)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	}) {
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%embedDims]++
	}
	var norm float64
	for _, x := range v {
		norm += float64(x * x)
	}
	if norm == 0 {
		v[0], norm = 1, 1
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(norm))
	}
	return v
}

// tokenIdentities is an authenticator that knows a few fixed tokens.
type tokenIdentities map[string]auth.Identity

func (m tokenIdentities) Verify(_ context.Context, token string) (auth.Identity, error) {
	if id, ok := m[token]; ok {
		return id, nil
	}
	return auth.Identity{}, &auth.TokenError{Reason: auth.ReasonMalformed, Err: errors.New("unknown test token")}
}

// Callers of the document tests: alice works in her personal
// compartment, bob in team blue's.
var (
	aliceComp = docbase.PersonalCompartment("alice")
	bobComp   = docbase.TeamCompartment("blue", "")
)

// docsFixture is a server with a document base, its chat model and its
// audit log.
type docsFixture struct {
	url   string
	db    *docbase.DB
	model *fakeModel
	audit *memAudit
}

// The chat model's reply cites source 2 and then source 1.
var citingPieces = []string{"Dogs bark [2]", "; cats purr [1]", "."}

func newDocsFixture(t *testing.T) *docsFixture {
	t.Helper()
	ctx := context.Background()
	db, err := docbase.Open(ctx, t.TempDir(), docbase.Options{Dimensions: embedDims})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fm := &fakeModel{pieces: citingPieces, context: 1 << 16, got: make(chan engine.Request, 1)}
	log := &memAudit{}
	users := tokenIdentities{
		"alice": {Subject: "alice", Roles: []auth.Role{auth.RoleUser}},
		"bob":   {Subject: "bob", Roles: []auth.Role{auth.RoleUser}, Team: "blue", Teams: []string{"blue"}},
	}
	s, err := New(Config{
		Models: []engine.Generator{fm, bagEmbedder{}}, Version: "test", Auth: users, Audit: log,
		Docs: Docs{DB: db, EmbeddingModel: "fake-embed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &docsFixture{url: ts.URL, db: db, model: fm, audit: log}
}

// client is the official SDK, acting with token.
func (f *docsFixture) client(token string) openai.Client {
	return openai.NewClient(option.WithBaseURL(f.url+"/v1/"), option.WithAPIKey(token), option.WithMaxRetries(0))
}

// store makes a vector store in comp holding one file per name, each
// indexed as the one chunk given for it.
func (f *docsFixture) store(t *testing.T, comp docbase.Compartment, files map[string]string) (string, map[string]string) {
	t.Helper()
	ctx := context.Background()
	st, err := f.db.CreateStore(ctx, comp, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for name, text := range files {
		file, err := f.db.CreateFile(ctx, comp, name, docbase.PurposeAssistants, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		attrs := docbase.Attributes{"kind": "pet"}
		if _, err := f.db.AddFile(ctx, comp, st.ID, file.ID, attrs, docbase.ChunkingStrategy{}); err != nil {
			t.Fatal(err)
		}
		chunk := docbase.ChunkInput{Text: text, Tokens: len(strings.Fields(text)), Embedding: bagOfWords(text)}
		if _, err := f.db.IndexFile(ctx, comp, st.ID, file.ID, []docbase.ChunkInput{chunk}); err != nil {
			t.Fatal(err)
		}
		ids[name] = file.ID
	}
	return st.ID, ids
}

const (
	catsText = "Cats purr when they are content and sleep all day."
	dogsText = "Dogs bark at the mailman every morning."
	question = "Why do cats purr?"
)

func (f *docsFixture) petStore(t *testing.T) (string, map[string]string) {
	return f.store(t, aliceComp, map[string]string{"cats.txt": catsText, "dogs.txt": dogsText})
}

func fileSearch(storeIDs ...string) []responses.ToolUnionParam {
	return []responses.ToolUnionParam{{OfFileSearch: &responses.FileSearchToolParam{VectorStoreIDs: storeIDs}}}
}

// lastRecord waits for the audit record of the request just answered.
func (f *docsFixture) lastRecord(t *testing.T) audit.Record {
	t.Helper()
	for range 100 {
		if recs := f.audit.records(); len(recs) > 0 {
			return recs[len(recs)-1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no audit record")
	return audit.Record{}
}

func TestResponsesFileSearch(t *testing.T) {
	f := newDocsFixture(t)
	storeID, files := f.petStore(t)
	client := f.client("alice")
	resp, err := client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model:        "fake",
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String(question)},
		Instructions: openai.String("Answer briefly."),
		Tools:        fileSearch(storeID),
		Metadata:     map[string]string{"ticket": "42"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.ID, "resp_") || resp.Status != "completed" || resp.Metadata["ticket"] != "42" {
		t.Errorf("response id %q status %q metadata %v", resp.ID, resp.Status, resp.Metadata)
	}
	if len(resp.Output) != 2 {
		t.Fatalf("%d output items: %s", len(resp.Output), resp.RawJSON())
	}
	call := resp.Output[0].AsFileSearchCall()
	if call.Type != "file_search_call" || call.Status != "completed" || !slices.Equal(call.Queries, []string{question}) ||
		call.Results != nil || !strings.HasPrefix(call.ID, "fs_") {
		t.Errorf("file_search_call %+v", call)
	}
	msg := resp.Output[1].AsMessage()
	if msg.Type != "message" || msg.Status != "completed" || !strings.HasPrefix(msg.ID, "msg_") {
		t.Errorf("message %+v", msg)
	}
	want := strings.Join(citingPieces, "")
	if resp.OutputText() != want {
		t.Errorf("text %q, want %q", resp.OutputText(), want)
	}
	// cats.txt ranks first for the question, so [1] is cats and [2] dogs.
	var got []string
	for _, a := range msg.Content[0].AsOutputText().Annotations {
		c := a.AsFileCitation()
		got = append(got, string(c.Type)+" "+c.FileID+" "+c.Filename+" "+fmt.Sprint(c.Index))
	}
	wantAnns := []string{
		"file_citation " + files["dogs.txt"] + " dogs.txt 10",
		"file_citation " + files["cats.txt"] + " cats.txt 25",
	}
	if !slices.Equal(got, wantAnns) {
		t.Errorf("annotations\n%q, want\n%q", got, wantAnns)
	}
	if u := resp.Usage; u.OutputTokens != 3 || u.InputTokens == 0 || u.TotalTokens != u.InputTokens+u.OutputTokens {
		t.Errorf("usage %+v", u)
	}
	if strings.Contains(resp.RawJSON(), `"store":true`) || !strings.Contains(resp.RawJSON(), `"store":false`) {
		t.Errorf("store not false: %s", resp.RawJSON())
	}

	checkGroundedPrompt(t, <-f.model.got)

	rec := f.lastRecord(t)
	if rec.Action != "responses.file_search" || !strings.HasPrefix(rec.Detail, "stores="+storeID+" chunks=chunk_") ||
		strings.Count(rec.Detail, ":") != 2 {
		t.Errorf("audit action %q detail %q", rec.Action, rec.Detail)
	}
	if strings.Contains(rec.Detail, "purr") || strings.Contains(rec.Detail, "bark") {
		t.Errorf("audit detail holds chunk text: %q", rec.Detail)
	}
	if rec.CompletionTokens != 3 || !strings.Contains(rec.Prompt, catsText) || rec.Response != want {
		t.Errorf("audit usage or text: %+v", rec)
	}
}

// checkGroundedPrompt checks what the model was asked: the instructions
// alone in the system turn, the sources numbered in a user turn of their
// own just before the question.
func checkGroundedPrompt(t *testing.T, req engine.Request) {
	t.Helper()
	msgs := req.Messages
	if len(msgs) != 3 {
		t.Fatalf("%d messages: %+v", len(msgs), msgs)
	}
	sys, sources, q := msgs[0], msgs[1], msgs[2]
	if sys.Role != chat.RoleSystem || !strings.HasPrefix(sys.Content, "Answer briefly.") ||
		strings.Contains(sys.Content, "purr") || strings.Contains(sys.Content, "bark") {
		t.Errorf("system turn %+v", sys)
	}
	if sources.Role != chat.RoleUser || !strings.Contains(sources.Content, "[1] cats.txt\n"+catsText) ||
		!strings.Contains(sources.Content, "[2] dogs.txt\n"+dogsText) {
		t.Errorf("sources turn %+v", sources)
	}
	if q.Role != chat.RoleUser || q.Content != question {
		t.Errorf("question turn %+v", q)
	}
}
