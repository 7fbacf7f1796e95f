package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// responsesDims is the test document base's dimensions.
const responsesDims = 8

// Callers of the document tests: alice works in her personal
// compartment, bob in team blue's.
var (
	aliceCompartment = docbase.PersonalCompartment("alice")
	blueCompartment  = docbase.TeamCompartment("blue", "")
)

// responsesFixture is a server with a document base, its chat model and its
// audit log.
type responsesFixture struct {
	url   string
	db    *docbase.DB
	model *fakeModel
	audit *memAudit
}

// The chat model's reply cites source 2 and then source 1.
var citingPieces = []string{"Dogs bark [2]", "; cats purr [1]", "."}

func newResponsesFixture(t *testing.T, more ...engine.Generator) *responsesFixture {
	t.Helper()
	ctx := context.Background()
	db, err := docbase.Open(ctx, t.TempDir(), docbase.Options{Dimensions: responsesDims})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fm := &fakeModel{pieces: citingPieces, context: 1 << 16, got: make(chan engine.Request, 1)}
	log := &memAudit{}
	users := tokenTable{
		"alice": {Subject: "alice", Roles: []auth.Role{auth.RoleUser}},
		"bob":   {Subject: "bob", Roles: []auth.Role{auth.RoleUser}, Team: "blue", Teams: []string{"blue"}},
	}
	s, err := New(Config{
		Models: append([]engine.Generator{fm, &fakeEmbedder{dims: responsesDims}}, more...), Version: "test", Auth: users, Audit: log,
		Docs: Docs{DB: db, EmbeddingModel: "embed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &responsesFixture{url: ts.URL, db: db, model: fm, audit: log}
}

// client is the official SDK, acting with token.
func (f *responsesFixture) client(token string) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(f.url+"/v1/"), option.WithAPIKey(token), option.WithMaxRetries(0))
	return &c
}

// store makes a vector store in comp holding one file per name, each
// indexed as the one chunk given for it.
func (f *responsesFixture) store(t *testing.T, comp docbase.Compartment, files map[string]string) (string, map[string]string) {
	t.Helper()
	ctx := context.Background()
	st, err := f.db.CreateStore(ctx, comp, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for name, text := range files {
		file, err := f.db.CreateFile(ctx, comp, name, docbase.PurposeAssistants, "text/plain", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		attrs := docbase.Attributes{"kind": "pet"}
		if _, err := f.db.AddFile(ctx, comp, st.ID, file.ID, attrs, docbase.ChunkingStrategy{}); err != nil {
			t.Fatal(err)
		}
		chunk := docbase.ChunkInput{Text: text, Tokens: len(strings.Fields(text)), Embedding: bagOfWords(text, responsesDims)}
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

func (f *responsesFixture) petStore(t *testing.T) (string, map[string]string) {
	return f.store(t, aliceCompartment, map[string]string{"cats.txt": catsText, "dogs.txt": dogsText})
}

func fileSearch(storeIDs ...string) []responses.ToolUnionParam {
	return []responses.ToolUnionParam{{OfFileSearch: &responses.FileSearchToolParam{VectorStoreIDs: storeIDs}}}
}

// lastRecord waits for the audit record of the request just answered.
func (f *responsesFixture) lastRecord(t *testing.T) audit.Record {
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
	f := newResponsesFixture(t)
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
	// The record keeps the caller's own text; the chunks only by id.
	if rec.CompletionTokens != 3 || strings.Contains(rec.Prompt, catsText) || !strings.Contains(rec.Prompt, question) ||
		rec.Response != want {
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

func TestResponsesIncludeResults(t *testing.T) {
	f := newResponsesFixture(t)
	storeID, files := f.petStore(t)
	resp, err := f.client("alice").Responses.New(context.Background(), responses.ResponseNewParams{
		Model:   "fake",
		Input:   responses.ResponseNewParamsInputUnion{OfString: openai.String(question)},
		Tools:   fileSearch(storeID),
		Include: []responses.ResponseIncludable{responses.ResponseIncludableFileSearchCallResults},
	})
	if err != nil {
		t.Fatal(err)
	}
	results := resp.Output[0].AsFileSearchCall().Results
	if len(results) != 2 {
		t.Fatalf("%d results: %s", len(results), resp.RawJSON())
	}
	top := results[0]
	if top.FileID != files["cats.txt"] || top.Filename != "cats.txt" || top.Text != catsText ||
		top.Score <= results[1].Score || top.Score > 1 || top.Attributes["kind"].OfString != "pet" {
		t.Errorf("results %+v", results)
	}
}

// TestResponsesStoreOfAnotherCompartment: bob's store, asked for by
// alice, is refused exactly as an id that names nothing, and its id is
// not written into the audit record.
func TestResponsesStoreOfAnotherCompartment(t *testing.T) {
	f := newResponsesFixture(t)
	aliceStore, _ := f.petStore(t)
	bobStore, _ := f.store(t, blueCompartment, map[string]string{"secret.txt": "cats purr in team blue"})
	missing := "vs_" + strings.Repeat("0", 32)
	ask := func(token string, ids ...string) (int, string) {
		t.Helper()
		_, err := f.client(token).Responses.New(context.Background(), responses.ResponseNewParams{
			Model: "fake", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(question)},
			Tools: fileSearch(ids...),
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("stores %v: %v, want an API error", ids, err)
		}
		return apiErr.StatusCode, apiErr.Message + "|" + apiErr.Type + "|" + apiErr.Code + "|" + apiErr.Param
	}
	status, other := ask("alice", aliceStore, bobStore)
	status2, absent := ask("alice", aliceStore, missing)
	if status != http.StatusNotFound || status2 != http.StatusNotFound ||
		other != strings.ReplaceAll(absent, missing, bobStore) ||
		!strings.HasPrefix(other, "No vector store found with id '"+bobStore+"'.|") {
		t.Errorf("another compartment's store: %d %q\nmissing store: %d %q", status, other, status2, absent)
	}
	rec := f.lastRecord(t)
	if rec.Action != "responses.file_search" || strings.Contains(rec.Detail, missing) ||
		!strings.HasPrefix(rec.Detail, "stores="+aliceStore+","+unknownPrefix) {
		t.Errorf("audit action %q detail %q", rec.Action, rec.Detail)
	}
	// bob searches his own store: the isolation is the compartment's,
	// not a store that cannot be searched.
	resp, err := f.client("bob").Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "fake", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(question)},
		Tools: fileSearch(bobStore),
	})
	if err != nil || resp.Status != "completed" {
		t.Fatalf("bob's own store: %v", err)
	}
}

func TestResponsesWithoutTools(t *testing.T) {
	f := newResponsesFixture(t)
	resp, err := f.client("alice").Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "fake",
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("Be terse.", responses.EasyInputMessageRoleDeveloper),
			responses.ResponseInputItemParamOfMessage("hello [1]", responses.EasyInputMessageRoleUser),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Output) != 1 || resp.Output[0].Type != "message" ||
		len(resp.Output[0].AsMessage().Content[0].AsOutputText().Annotations) != 0 {
		t.Errorf("output %s", resp.RawJSON())
	}
	req := <-f.model.got
	want := []chat.Message{{Role: chat.RoleDeveloper, Content: "Be terse."}, {Role: chat.RoleUser, Content: "hello [1]"}}
	if !slices.EqualFunc(req.Messages, want, func(a, b chat.Message) bool { return a.Role == b.Role && a.Content == b.Content }) {
		t.Errorf("messages %+v", req.Messages)
	}
	if rec := f.lastRecord(t); rec.Action != "responses" || rec.Detail != "" {
		t.Errorf("audit action %q detail %q", rec.Action, rec.Detail)
	}
}

func TestResponsesIncomplete(t *testing.T) {
	f := newResponsesFixture(t)
	storeID, _ := f.petStore(t)
	resp, err := f.client("alice").Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "fake", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(question)},
		Tools: fileSearch(storeID), MaxOutputTokens: openai.Int(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != "incomplete" || resp.IncompleteDetails.Reason != "max_output_tokens" ||
		resp.OutputText() != citingPieces[0] || resp.Output[1].AsMessage().Status != "incomplete" {
		t.Errorf("response %s", resp.RawJSON())
	}
}

func TestResponsesRefused(t *testing.T) {
	f := newResponsesFixture(t)
	storeID, _ := f.petStore(t)
	tool := `"tools":[{"type":"file_search","vector_store_ids":["` + storeID + `"]`
	q := `{"model":"fake","input":"hi",`
	cases := []struct{ name, body, param string }{
		{"function tool", q + `"tools":[{"type":"function","name":"f"}]}`, "tools[0].type"},
		{"web search tool", q + `"tools":[{"type":"web_search_preview"}]}`, "tools[0].type"},
		{"two file_search tools", q + tool + `},{"type":"file_search","vector_store_ids":["x"]}]}`, "tools[1]"},
		{"no store ids", q + `"tools":[{"type":"file_search","vector_store_ids":[]}]}`, "tools[0].vector_store_ids"},
		{"17 store ids", q + `"tools":[{"type":"file_search","vector_store_ids":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}]}`, "tools[0].vector_store_ids"},
		{"max_num_results 51", q + tool + `,"max_num_results":51}]}`, "tools[0].max_num_results"},
		{"bad filter", q + tool + `,"filters":{"type":"near","key":"a","value":1}}]}`, "tools[0].filters"},
		{"score_threshold 2", q + tool + `,"ranking_options":{"score_threshold":2}}]}`, "tools[0].ranking_options.score_threshold"},
		{"unknown include", q + `"include":["message.output_text.logprobs"]}`, "include[0]"},
		{"previous_response_id", q + `"previous_response_id":"resp_1"}`, "previous_response_id"},
		{"background", q + `"background":true}`, "background"},
		{"input_image", `{"model":"fake","input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]}`, "input[0].content[0].type"},
		{"input_file", `{"model":"fake","input":[{"role":"user","content":[{"type":"input_file","file_id":"file-1"}]}]}`, "input[0].content[0].type"},
		{"function_call_output item", `{"model":"fake","input":[{"type":"function_call_output","call_id":"c","output":"x"}]}`, "input[0].type"},
		{"unknown role", `{"model":"fake","input":[{"role":"wizard","content":"hi"}]}`, "input[0].role"},
		{"empty input", `{"model":"fake","input":[]}`, "input"},
		{"no input", `{"model":"fake"}`, "input"},
		{"search without a user message", `{"model":"fake","input":[{"role":"system","content":"hi"}],` + tool + `}]}`, "input"},
		{"max_output_tokens 0", q + `"max_output_tokens":0}`, "max_output_tokens"},
		{"unknown text format", q + `"text":{"format":{"type":"xml"}}}`, "text.format.type"},
		{"json schema without a schema", q + `"text":{"format":{"type":"json_schema","name":"x"}}}`, "text.format"},
		{"tool_choice function", q + `"tool_choice":{"type":"function","name":"f"}}`, "tool_choice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", f.url+"/v1/responses", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer alice")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d: %s", resp.StatusCode, data)
			}
			if e := decodeError(t, data); e.Param == nil || *e.Param != tc.param {
				t.Errorf("param %v, want %q: %s", e.Param, tc.param, data)
			}
		})
	}
	select {
	case req := <-f.model.got:
		t.Errorf("a refused request reached the model: %+v", req)
	default:
	}
}

// responseEventOrder is what a streamed file search sends, in order, for
// the three pieces and two citations of citingPieces.
var responseEventOrder = []string{
	"response.created", "response.in_progress",
	"response.output_item.added", "response.file_search_call.in_progress",
	"response.file_search_call.searching", "response.file_search_call.completed", "response.output_item.done",
	"response.output_item.added", "response.content_part.added",
	"response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
	"response.output_text.annotation.added", "response.output_text.annotation.added",
	"response.output_text.done", "response.content_part.done", "response.output_item.done",
	"response.completed",
}

func TestResponsesStream(t *testing.T) {
	f := newResponsesFixture(t)
	storeID, files := f.petStore(t)
	stream := f.client("alice").Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
		Model:        "fake",
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String(question)},
		Instructions: openai.String("Answer briefly."),
		Tools:        fileSearch(storeID),
		Include:      []responses.ResponseIncludable{responses.ResponseIncludableFileSearchCallResults},
	})
	var types, deltas []string
	var anns []string
	var final responses.Response
	for i := 0; stream.Next(); i++ {
		ev := stream.Current()
		types = append(types, ev.Type)
		if ev.SequenceNumber != int64(i) {
			t.Errorf("event %d (%s) has sequence_number %d", i, ev.Type, ev.SequenceNumber)
		}
		switch e := ev.AsAny().(type) {
		case responses.ResponseTextDeltaEvent:
			deltas = append(deltas, e.Delta)
			if e.OutputIndex != 1 || e.ContentIndex != 0 || !strings.HasPrefix(e.ItemID, "msg_") {
				t.Errorf("delta %+v", e)
			}
		case responses.ResponseOutputTextAnnotationAddedEvent:
			a, _ := e.Annotation.(map[string]any)
			anns = append(anns, fmt.Sprint(e.AnnotationIndex, " ", a["file_id"], " ", a["index"]))
		case responses.ResponseFileSearchCallCompletedEvent:
			if e.OutputIndex != 0 || !strings.HasPrefix(e.ItemID, "fs_") {
				t.Errorf("search event %+v", e)
			}
		case responses.ResponseCompletedEvent:
			final = e.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(types, responseEventOrder) {
		t.Errorf("events\n%q, want\n%q", types, responseEventOrder)
	}
	if !slices.Equal(deltas, citingPieces) {
		t.Errorf("deltas %q", deltas)
	}
	wantAnns := []string{"0 " + files["dogs.txt"] + " 10", "1 " + files["cats.txt"] + " 25"}
	if !slices.Equal(anns, wantAnns) {
		t.Errorf("annotation events %q, want %q", anns, wantAnns)
	}
	if final.Status != "completed" || final.OutputText() != strings.Join(citingPieces, "") ||
		len(final.Output) != 2 || len(final.Output[0].AsFileSearchCall().Results) != 2 ||
		len(final.Output[1].AsMessage().Content[0].AsOutputText().Annotations) != 2 || final.Usage.OutputTokens != 3 {
		t.Errorf("final response %s", final.RawJSON())
	}
	checkGroundedPrompt(t, <-f.model.got)
	if rec := f.lastRecord(t); rec.Action != "responses.file_search" || !strings.Contains(rec.Detail, " chunks=chunk_") {
		t.Errorf("audit action %q detail %q", rec.Action, rec.Detail)
	}
}

// TestResponsesStreamFrames reads the stream raw: each event is named by
// an event line agreeing with its type, and nothing follows the last.
func TestResponsesStreamFrames(t *testing.T) {
	f := newResponsesFixture(t)
	resp, data := f.post(t, `{"model":"fake","input":"hi","stream":true,"max_output_tokens":2}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	frames := strings.Split(strings.TrimSuffix(string(data), "\n\n"), "\n\n")
	var types []string
	for _, fr := range frames {
		name, payload, ok := strings.Cut(fr, "\n")
		var ev struct{ Type string }
		if !ok || json.Unmarshal([]byte(strings.TrimPrefix(payload, "data: ")), &ev) != nil ||
			name != "event: "+ev.Type || !strings.HasPrefix(payload, "data: {") {
			t.Fatalf("frame %q", fr)
		}
		types = append(types, ev.Type)
	}
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"}
	if !slices.Equal(types, want) {
		t.Errorf("events\n%q, want\n%q", types, want)
	}
}

func (f *responsesFixture) post(t *testing.T, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.url+"/v1/responses", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// brokenModel emits a piece and then fails, as a model unloaded midway.
type brokenModel struct{}

func (brokenModel) Info() engine.ModelInfo { return engine.ModelInfo{Name: "broken", Context: 512} }

func (brokenModel) Generate(_ context.Context, _ engine.Request, emit func(string) error) (engine.Result, error) {
	if err := emit("Half"); err != nil {
		return engine.Result{}, err
	}
	return engine.Result{}, engine.ErrClosed
}

func TestResponsesStreamErrors(t *testing.T) {
	f := newResponsesFixture(t, brokenModel{})
	// Before the first piece: an ordinary HTTP error, nothing streamed.
	long := strings.Repeat("z", 1<<16)
	resp, data := f.post(t, `{"model":"fake","stream":true,"input":"`+long+`"}`)
	if e := decodeError(t, data); resp.StatusCode != http.StatusBadRequest || e.Code == nil || *e.Code != "context_length_exceeded" {
		t.Errorf("too long a prompt: %d %s", resp.StatusCode, data)
	}
	// After it: response.failed, through the SDK.
	stream := f.client("alice").Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
		Model: "broken", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	})
	var last responses.ResponseStreamEventUnion
	for stream.Next() {
		last = stream.Current()
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	failed := last.AsResponseFailed().Response
	if last.Type != "response.failed" || failed.Status != "failed" || failed.Error.Code != "server_error" || failed.Error.Message == "" {
		t.Errorf("last event %s", last.RawJSON())
	}
}
