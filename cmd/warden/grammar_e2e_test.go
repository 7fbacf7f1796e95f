package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// Request values that crashed the whole server before grammars were
// checked in Go (issue 13): each must now be a 400 naming the parameter,
// with an audit record, and the server must go on answering, stop cleanly
// and leave a chain that verifies.
func TestHostileGrammarsDoNotCrashTheServer(t *testing.T) {
	w := startWarden(t, "--lock", repoLock)
	schemas := map[string]string{
		"recursive $ref":  `{"$ref":"#/definitions/a","definitions":{"a":{"$ref":"#/definitions/a"}}}`,
		"self $ref":       `{"type":"object","properties":{"a":{"$ref":"#"}},"required":["a"],"allOf":[{"$ref":"#"}]}`,
		"maxLength 3000":  `{"type":"string","maxLength":3000}`,
		"max below min":   `{"type":"string","minLength":5,"maxLength":2}`,
		"nested 100 deep": strings.Repeat(`{"type":"array","items":`, 100) + `{}` + strings.Repeat(`}`, 100),
	}
	for name, schema := range schemas {
		body := `{"model":"warden-demo","max_tokens":8,"messages":[{"role":"user","content":"hi"}],` +
			`"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":` + schema + `}}}`
		status, apiErr := postChat(t, w, body)
		if status != http.StatusBadRequest || apiErr.Param != "response_format" {
			t.Errorf("%s: status %d, error %+v; want 400 for response_format", name, status, apiErr)
		}
	}
	// The same recursion as tool parameters, which a required tool call
	// turns into a grammar.
	tool := `{"model":"warden-demo","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"tool_choice":"required",` +
		`"tools":[{"type":"function","function":{"name":"f","parameters":` + schemas["recursive $ref"] + `}}]}`
	if status, apiErr := postChat(t, w, tool); status != http.StatusBadRequest {
		t.Errorf("recursive tool parameters: status %d, error %+v", status, apiErr)
	}

	ok := `{"model":"warden-demo","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}`
	if status, apiErr := postChat(t, w, ok); status != http.StatusOK {
		t.Fatalf("after the hostile requests: status %d, %+v", status, apiErr)
	}
	if err := w.stop(); err != nil {
		t.Fatalf("warden exit: %v\n%s", err, w.logs)
	}
	if out, err := runWarden(t, "audit", "verify", "--data-dir", w.dataDir); err != nil || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	recs := exportRecords(t, w.dataDir)
	if got, want := count(recs, "status", float64(400)), len(schemas)+1; got != want {
		t.Errorf("%d records of 400, want %d", got, want)
	}
	if count(recs, "action", "stop") != 1 {
		t.Error("no stop record: the server did not shut down cleanly")
	}
}

// TinyStories-656K has no token that writes "{" and no byte fallback:
// json_object alone made llama.cpp's sampler assert and abort the server.
func TestJSONModeOnAModelThatCannotWriteJSON(t *testing.T) {
	path, lock := pinCopy(t, filepath.Join(sharedModels(t), "TinyStories-656K-Q8_0.gguf"))
	w := startWarden(t, "--lock", lock, "--model", path)
	body := `{"model":"TinyStories-656K-Q8_0","max_tokens":8,"messages":[{"role":"user","content":"Once"}],"response_format":{"type":"json_object"}}`
	status, apiErr := postChat(t, w, body)
	if status != http.StatusBadRequest || !strings.Contains(apiErr.Message, "no token of this model can write") {
		t.Fatalf("status %d, error %+v; want a 400 that says why", status, apiErr)
	}
	plain := `{"model":"TinyStories-656K-Q8_0","max_tokens":8,"messages":[{"role":"user","content":"Once"}]}`
	if status, apiErr := postChat(t, w, plain); status != http.StatusOK {
		t.Fatalf("after the refusal: status %d, %+v", status, apiErr)
	}
}

type apiError struct {
	Message, Type, Code, Param string
}

// postChat sends a chat completion and returns its status and error body.
func postChat(t *testing.T, w *instance, body string) (int, apiError) {
	t.Helper()
	resp, err := w.http.Post(w.base+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("the server did not answer: %v\n%s", err, w.logs)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e struct{ Error apiError }
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("status %d with body %q", resp.StatusCode, data)
		}
	}
	return resp.StatusCode, e.Error
}
