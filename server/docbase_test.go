package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/store/audit"
	"github.com/warden-llm/warden/store/docbase"
)

// fakeEmbedder is an embedding model whose vectors are bags of words
// hashed into a few dimensions: texts sharing words are near.
type fakeEmbedder struct{ dims int }

func (f *fakeEmbedder) Info() engine.ModelInfo {
	return engine.ModelInfo{Name: "embed", Context: 4096, Dimensions: f.dims, Created: 1700000000}
}

func (f *fakeEmbedder) Generate(context.Context, engine.Request, func(string) error) (engine.Result, error) {
	return engine.Result{}, engine.ErrEmbeddingOnly
}

func (f *fakeEmbedder) CountTokens(text string) (int, error) { return len(strings.Fields(text)), nil }

func (f *fakeEmbedder) Embed(_ context.Context, in []engine.EmbedInput) ([]engine.Embedding, error) {
	out := make([]engine.Embedding, len(in))
	for i, e := range in {
		out[i] = engine.Embedding{Vector: bagOfWords(e.Text, f.dims), Tokens: len(strings.Fields(e.Text))}
	}
	return out, nil
}

// bagOfWords hashes text's lower-cased words into dims buckets and
// normalises: texts sharing words are near, and a text always embeds alike.
func bagOfWords(text string, dims int) []float32 {
	v := make([]float32, dims)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	}) {
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%uint32(dims)]++
	}
	var n float64
	for _, x := range v {
		n += float64(x * x)
	}
	if n == 0 { // never the zero vector
		v[0], n = 1, 1
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

// tokenTable authenticates the tokens of a test by name.
type tokenTable map[string]auth.Identity

func (t tokenTable) Verify(_ context.Context, token string) (auth.Identity, error) {
	id, ok := t[token]
	if !ok {
		return auth.Identity{}, &auth.TokenError{Reason: auth.ReasonMalformed, Err: errors.New("unknown test token")}
	}
	return id, nil
}

// The callers of the document tests: two teams, a member of both, a
// caller with no team, and an administrator.
func docTokens() tokenTable {
	user := []auth.Role{auth.RoleUser}
	return tokenTable{
		"alice": {Subject: "alice", Roles: user, Team: "red", Project: "x", Teams: []string{"red"}, Projects: []string{"x"}},
		"bob":   {Subject: "bob", Roles: user, Team: "blue", Project: "x", Teams: []string{"blue"}, Projects: []string{"x"}},
		"dave":  {Subject: "dave", Roles: user, Team: "red", Project: "x", Teams: []string{"red", "blue"}, Projects: []string{"x"}},
		"carol": {Subject: "carol", Roles: user},
		"root":  {Subject: "root", Roles: []auth.Role{auth.RoleAdmin}},
	}
}

// actions maps each action recorded to its last record.
func (m *memAudit) actions() map[string]audit.Record {
	out := map[string]audit.Record{}
	for _, r := range m.records() {
		if r.Action != "" {
			out[r.Action] = r
		}
	}
	return out
}

type docFixture struct {
	url   string
	db    *docbase.DB
	audit *memAudit
}

func newDocServer(t *testing.T, maxUpload int64, edits ...func(*Config)) *docFixture {
	t.Helper()
	db, err := docbase.Open(context.Background(), t.TempDir(), docbase.Options{Dimensions: 16})
	if err != nil {
		t.Fatal(err)
	}
	log := &memAudit{}
	cfg := Config{
		Models: []engine.Generator{&fakeEmbedder{dims: 16}, &fakeModel{pieces: []string{"ok"}, context: 4096}},
		Auth:   docTokens(), Audit: log,
		Docs: Docs{DB: db, EmbeddingModel: "embed", MaxUploadBytes: maxUpload},
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		s.Close(context.Background())
		db.Close()
	})
	return &docFixture{url: ts.URL, db: db, audit: log}
}

func (f *docFixture) do(t *testing.T, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, f.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return send(t, req)
}

func send(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// uploadRequest is a multipart POST /v1/files.
func (f *docFixture) uploadRequest(t *testing.T, token, filename, contentType string, content []byte) *http.Request {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if err := w.WriteField("purpose", "assistants"); err != nil {
		t.Fatal(err)
	}
	h := make(map[string][]string)
	// RFC 7578 allows any name percent-encoded in filename* (RFC 2231);
	// control characters can travel no other way in a part header.
	h["Content-Disposition"] = []string{`form-data; name="file"; filename*=UTF-8''` + url.PathEscape(filename)}
	if contentType != "" {
		h["Content-Type"] = []string{contentType}
	}
	part, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(content)
	w.Close()
	req, err := http.NewRequest(http.MethodPost, f.url+"/v1/files", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return req
}

func (f *docFixture) upload(t *testing.T, token, filename, text string) string {
	t.Helper()
	code, body := send(t, f.uploadRequest(t, token, filename, "text/plain", []byte(text)))
	if code != http.StatusOK {
		t.Fatalf("upload %s: %d %s", filename, code, body)
	}
	return field(t, body, "id")
}

func field(t *testing.T, body []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	s, _ := m[name].(string)
	return s
}

// storeWith makes a store of token's compartment holding files, and
// waits until they are indexed.
func (f *docFixture) storeWith(t *testing.T, token string, fileIDs ...string) string {
	t.Helper()
	code, body := f.do(t, token, "POST", "/v1/vector_stores", map[string]any{"name": "s", "file_ids": fileIDs})
	if code != http.StatusOK {
		t.Fatalf("create store: %d %s", code, body)
	}
	id := field(t, body, "id")
	f.waitIndexed(t, token, id, len(fileIDs))
	return id
}

func (f *docFixture) waitIndexed(t *testing.T, token, storeID string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := f.do(t, token, "GET", "/v1/vector_stores/"+storeID, nil)
		var v vectorStoreObject
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if v.FileCounts.InProgress == 0 && v.FileCounts.Total == int64(n) {
			if v.FileCounts.Completed != int64(n) {
				t.Fatalf("store %s: %+v, want %d completed", storeID, v.FileCounts, n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store %s still indexing: %+v", storeID, v.FileCounts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type searchPage struct {
	Object string               `json:"object"`
	Data   []searchResultObject `json:"data"`
}

func (f *docFixture) search(t *testing.T, token, storeID string, req map[string]any) searchPage {
	t.Helper()
	code, body := f.do(t, token, "POST", "/v1/vector_stores/"+storeID+"/search", req)
	if code != http.StatusOK {
		t.Fatalf("search: %d %s", code, body)
	}
	var p searchPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDocumentLifecycle(t *testing.T) {
	f := newDocServer(t, 0)
	cats := f.upload(t, "alice", "cats.txt", "Cats purr and sleep in the sun all afternoon.")
	dogs := f.upload(t, "alice", "dogs.txt", "Dogs bark at the mail carrier every morning.")
	store := f.storeWith(t, "alice", cats, dogs)

	p := f.search(t, "alice", store, map[string]any{"query": "why do cats purr"})
	if p.Object != "vector_store.search_results.page" || len(p.Data) == 0 || p.Data[0].FileID != cats {
		t.Fatalf("search for cats: %+v", p)
	}
	if p.Data[0].Filename != "cats.txt" || !strings.Contains(p.Data[0].Content[0].Text, "purr") {
		t.Fatalf("top result %+v", p.Data[0])
	}

	// Deleting a file removes its chunks from every store at once.
	if code, body := f.do(t, "alice", "DELETE", "/v1/files/"+cats, nil); code != http.StatusOK {
		t.Fatalf("delete: %d %s", code, body)
	}
	for _, r := range f.search(t, "alice", store, map[string]any{"query": "cats purr sleep sun"}).Data {
		if r.FileID == cats {
			t.Fatalf("deleted file still found: %+v", r)
		}
	}
	if code, _ := f.do(t, "alice", "GET", "/v1/files/"+cats, nil); code != http.StatusNotFound {
		t.Fatalf("deleted file: %d, want 404", code)
	}
}

func TestFileContentIsTheUploadAsBytes(t *testing.T) {
	f := newDocServer(t, 0)
	// A name with directories and control characters is opaque metadata.
	name := "../../etc/passwd\x01.txt"
	id := f.upload(t, "alice", name, "<b>plain</b> text")
	code, body := f.do(t, "alice", "GET", "/v1/files/"+id, nil)
	if code != http.StatusOK || field(t, body, "filename") != name {
		t.Fatalf("file: %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", f.url+"/v1/files/"+id+"/content", nil)
	req.Header.Set("Authorization", "Bearer alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if string(data) != "<b>plain</b> text" || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		resp.Header.Get("Content-Disposition") != "attachment" {
		t.Fatalf("content %q with headers %v", data, resp.Header)
	}
}

// Everything of another compartment answers exactly as a missing id does,
// on every endpoint that takes an id.
func TestOtherCompartmentsAnswerLikeMissingIDs(t *testing.T) {
	f := newDocServer(t, 0)
	aliceFile := f.upload(t, "alice", "secret.txt", "the red team's launch code is tulip")
	aliceStore := f.storeWith(t, "alice", aliceFile)
	bobFile := f.upload(t, "bob", "bob.txt", "blue team notes")
	bobStore := f.storeWith(t, "bob", bobFile)
	const missingFile, missingStore = "file-00000000000000000000000000000000", "vs_00000000000000000000000000000000"

	type probe struct {
		name, method, path string
		body               map[string]any
		missing            string // the same probe with missing ids
	}
	search := map[string]any{"query": "launch code"}
	probes := []probe{
		{"get file", "GET", "/v1/files/%s", nil, missingFile},
		{"file content", "GET", "/v1/files/%s/content", nil, missingFile},
		{"delete file", "DELETE", "/v1/files/%s", nil, missingFile},
		{"get store", "GET", "/v1/vector_stores/%s", nil, missingStore},
		{"update store", "POST", "/v1/vector_stores/%s", map[string]any{"name": "mine"}, missingStore},
		{"delete store", "DELETE", "/v1/vector_stores/%s", nil, missingStore},
		{"list store files", "GET", "/v1/vector_stores/%s/files", nil, missingStore},
		{"search store", "POST", "/v1/vector_stores/%s/search", search, missingStore},
		{"get store file", "GET", "/v1/vector_stores/" + aliceStore + "/files/%s", nil, missingFile},
		{"list files after a cursor", "GET", "/v1/files?after=%s", nil, missingFile},
		{"list stores after a cursor", "GET", "/v1/vector_stores?after=%s", nil, missingStore},
	}
	ids := map[string]string{missingFile: aliceFile, missingStore: aliceStore}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			mCode, mBody := f.do(t, "bob", p.method, fmt.Sprintf(p.path, p.missing), p.body)
			code, body := f.do(t, "bob", p.method, fmt.Sprintf(p.path, ids[p.missing]), p.body)
			if code != http.StatusNotFound || mCode != http.StatusNotFound {
				t.Fatalf("alice's id: %d %s; missing id: %d %s; want 404 for both", code, body, mCode, mBody)
			}
			if got := strings.ReplaceAll(string(body), ids[p.missing], p.missing); got != string(mBody) {
				t.Fatalf("alice's id answers\n%s\na missing id\n%s", got, mBody)
			}
		})
	}
	// Attaching across compartments, either way round, is refused alike.
	code, body := f.do(t, "bob", "POST", "/v1/vector_stores/"+bobStore+"/files", map[string]any{"file_id": aliceFile})
	mCode, mBody := f.do(t, "bob", "POST", "/v1/vector_stores/"+bobStore+"/files", map[string]any{"file_id": missingFile})
	if code != http.StatusNotFound || strings.ReplaceAll(string(body), aliceFile, missingFile) != string(mBody) || mCode != code {
		t.Fatalf("attach alice's file: %d %s; a missing one: %d %s", code, body, mCode, mBody)
	}
	if code, body := f.do(t, "bob", "POST", "/v1/vector_stores", map[string]any{"file_ids": []string{aliceFile}}); code != http.StatusNotFound {
		t.Fatalf("store with alice's file: %d %s", code, body)
	}
	// Lists hold only the caller's own; alice's store is untouched.
	_, body = f.do(t, "bob", "GET", "/v1/vector_stores", nil)
	if strings.Contains(string(body), aliceStore) || !strings.Contains(string(body), bobStore) {
		t.Fatalf("bob's stores: %s", body)
	}
	_, body = f.do(t, "bob", "GET", "/v1/files", nil)
	if strings.Contains(string(body), aliceFile) || !strings.Contains(string(body), bobFile) {
		t.Fatalf("bob's files: %s", body)
	}
	if p := f.search(t, "alice", aliceStore, search); len(p.Data) != 1 || p.Data[0].FileID != aliceFile {
		t.Fatalf("alice's search after bob's probes: %+v", p)
	}
	// A caller with no team has a compartment of its own, not a global one.
	if _, body := f.do(t, "carol", "GET", "/v1/files", nil); strings.Contains(string(body), "file-") {
		t.Fatalf("carol sees files: %s", body)
	}
}

func TestTeamHeaderPicksAmongTheTokensTeams(t *testing.T) {
	f := newDocServer(t, 0)
	bobFile := f.upload(t, "bob", "bob.txt", "blue team notes")
	get := func(token, team string) (int, []byte) {
		req, _ := http.NewRequest("GET", f.url+"/v1/files/"+bobFile, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if team != "" {
			req.Header.Set(teamHeader, team)
		}
		return send(t, req)
	}
	if code, body := get("dave", ""); code != http.StatusNotFound {
		t.Fatalf("dave in his default team red: %d %s, want 404", code, body)
	}
	if code, body := get("dave", "blue"); code != http.StatusOK {
		t.Fatalf("dave choosing blue: %d %s", code, body)
	}
	// A team the token does not carry is refused, whatever exists there.
	if code, body := get("alice", "blue"); code != http.StatusForbidden || strings.Contains(string(body), "bob") {
		t.Fatalf("alice choosing blue: %d %s, want 403", code, body)
	}
}

func TestUploadLimits(t *testing.T) {
	f := newDocServer(t, 1<<10)
	big := bytes.Repeat([]byte("a "), 1<<10)
	if code, body := send(t, f.uploadRequest(t, "alice", "big.txt", "text/plain", big)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized upload: %d %s", code, body)
	}
	// Without a Content-Length the limit holds while the body streams in.
	req := f.uploadRequest(t, "alice", "big.txt", "text/plain", bytes.Repeat([]byte("a "), 64<<10))
	req.ContentLength = -1
	req.Body = io.NopCloser(io.MultiReader(req.Body))
	if code, body := send(t, req); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized streamed upload: %d %s", code, body)
	}
	if code, body := send(t, f.uploadRequest(t, "alice", "ok.txt", "text/plain", big[:1000])); code != http.StatusOK {
		t.Fatalf("upload under the limit: %d %s", code, body)
	}
	if code, body := f.do(t, "alice", "POST", "/v1/files", map[string]any{"file": "x"}); code != http.StatusBadRequest {
		t.Fatalf("JSON upload: %d %s", code, body)
	}
}

func TestDocumentOperationsAreAudited(t *testing.T) {
	f := newDocServer(t, 0)
	id := f.upload(t, "alice", "notes.txt", "meeting notes about the budget")
	store := f.storeWith(t, "alice", id)
	res := f.search(t, "alice", store, map[string]any{"query": "budget meeting"})
	f.do(t, "alice", "DELETE", "/v1/files/"+id, nil)

	recs := f.audit.actions()
	up := recs["file.upload"]
	if !strings.Contains(up.Detail, "file="+id) || !strings.Contains(up.Detail, "sha256=") ||
		!strings.Contains(up.Detail, `team "red" project "x"`) || up.Subject != "alice" {
		t.Fatalf("upload record: %+v", up)
	}
	if r := recs["vector_store.create"]; !strings.Contains(r.Detail, "store="+store) {
		t.Fatalf("create record: %+v", r)
	}
	s := recs["vector_store.search"]
	want := fmt.Sprintf("%.4f", res.Data[0].Score)
	if s.Prompt != "budget meeting" || !strings.Contains(s.Detail, "stores="+store) || !strings.Contains(s.Detail, ":"+want) {
		t.Fatalf("search record: %+v", s)
	}
	if r := recs["file.delete"]; r.Detail != "file="+id {
		t.Fatalf("delete record: %+v", r)
	}
}

func TestChunkingAndSearchParameters(t *testing.T) {
	f := newDocServer(t, 0)
	id := f.upload(t, "alice", "a.txt", "alpha beta gamma")
	code, body := f.do(t, "alice", "POST", "/v1/vector_stores", map[string]any{
		"chunking_strategy": map[string]any{"type": "static", "static": map[string]any{"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}}})
	if code != http.StatusBadRequest || !strings.Contains(string(body), "max_chunk_size_tokens") {
		t.Fatalf("chunk size 50: %d %s", code, body)
	}
	store := f.storeWith(t, "alice")
	code, body = f.do(t, "alice", "POST", "/v1/vector_stores/"+store+"/files", map[string]any{
		"file_id": id, "attributes": map[string]any{"year": 2024},
		"chunking_strategy": map[string]any{"type": "static", "static": map[string]any{"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20}}})
	if code != http.StatusOK || !strings.Contains(string(body), `"max_chunk_size_tokens":100`) {
		t.Fatalf("attach: %d %s", code, body)
	}
	f.waitIndexed(t, "alice", store, 1)
	for _, c := range []struct {
		filter string
		n      int
	}{
		{`{"type":"eq","key":"year","value":2024}`, 1},
		{`{"type":"gt","key":"year","value":2024}`, 0},
	} {
		p := f.search(t, "alice", store, map[string]any{"query": []string{"alpha", "gamma"}, "filters": json.RawMessage(c.filter)})
		if len(p.Data) != c.n {
			t.Fatalf("filter %s: %d results, want %d", c.filter, len(p.Data), c.n)
		}
	}
	for _, bad := range []map[string]any{
		{"query": ""},
		{"query": "x", "max_num_results": 51},
		{"query": "x", "ranking_options": map[string]any{"score_threshold": 2}},
		{"query": "x", "filters": map[string]any{"type": "like", "key": "year", "value": 1}},
		{"query": "x", "rewrite_query": true},
	} {
		if code, body := f.do(t, "alice", "POST", "/v1/vector_stores/"+store+"/search", bad); code != http.StatusBadRequest {
			t.Fatalf("search %v: %d %s", bad, code, body)
		}
	}
}

// An administrator sees every compartment's stores, metadata only, and
// may delete them; it can neither read nor search their documents.
func TestAdminCleansUpWithoutReading(t *testing.T) {
	f := newDocServer(t, 0)
	file := f.upload(t, "alice", "secret.txt", "the red team's launch code is tulip")
	store := f.storeWith(t, "alice", file)

	code, body := f.do(t, "root", "GET", "/admin/vector_stores", nil)
	if code != http.StatusOK || !strings.Contains(string(body), store) || !strings.Contains(string(body), `"team":"red"`) ||
		strings.Contains(string(body), "tulip") {
		t.Fatalf("admin list: %d %s", code, body)
	}
	for _, p := range []struct{ method, path string }{
		{"GET", "/v1/files/" + file + "/content"},
		{"GET", "/v1/files"},
		{"POST", "/v1/vector_stores/" + store + "/search"},
	} {
		if code, body := f.do(t, "root", p.method, p.path, map[string]any{"query": "launch code"}); code != http.StatusForbidden {
			t.Fatalf("admin %s %s: %d %s, want 403", p.method, p.path, code, body)
		}
	}
	if code, body := f.do(t, "alice", "GET", "/admin/vector_stores", nil); code != http.StatusForbidden {
		t.Fatalf("user on the admin list: %d %s", code, body)
	}
	if code, body := f.do(t, "root", "DELETE", "/admin/vector_stores/"+store, nil); code != http.StatusOK {
		t.Fatalf("admin delete: %d %s", code, body)
	}
	if code, _ := f.do(t, "alice", "GET", "/v1/vector_stores/"+store, nil); code != http.StatusNotFound {
		t.Fatalf("deleted store: %d, want 404", code)
	}
	if r := f.audit.actions()["DELETE /admin/vector_stores/:id"]; r.Detail != "store="+store || r.Subject != "root" {
		t.Fatalf("admin delete record: %+v", r)
	}
}

func TestFileBatches(t *testing.T) {
	f := newDocServer(t, 0)
	a := f.upload(t, "alice", "a.txt", "alpha")
	b := f.upload(t, "alice", "b.txt", "beta")
	store := f.storeWith(t, "alice")
	code, body := f.do(t, "alice", "POST", "/v1/vector_stores/"+store+"/file_batches", map[string]any{"file_ids": []string{a, b}})
	if code != http.StatusOK {
		t.Fatalf("batch: %d %s", code, body)
	}
	id := field(t, body, "id")
	f.waitIndexed(t, "alice", store, 2)
	var fb fileBatchObject
	_, body = f.do(t, "alice", "GET", "/v1/vector_stores/"+store+"/file_batches/"+id, nil)
	if err := json.Unmarshal(body, &fb); err != nil || fb.Status != "completed" || fb.FileCounts.Completed != 2 || fb.Object != "vector_store.files_batch" {
		t.Fatalf("batch %s: %+v %v", body, fb, err)
	}
	// Another compartment's batch, even through a store id of its own, is
	// not found; nor is a batch with one foreign file attached at all.
	bobStore := f.storeWith(t, "bob")
	for _, path := range []string{"/v1/vector_stores/" + store + "/file_batches/" + id, "/v1/vector_stores/" + bobStore + "/file_batches/" + id} {
		if code, body := f.do(t, "bob", "GET", path, nil); code != http.StatusNotFound {
			t.Fatalf("bob GET %s: %d %s", path, code, body)
		}
	}
	bobFile := f.upload(t, "bob", "c.txt", "gamma")
	if code, body := f.do(t, "bob", "POST", "/v1/vector_stores/"+bobStore+"/file_batches", map[string]any{"file_ids": []string{bobFile, a}}); code != http.StatusNotFound {
		t.Fatalf("bob's batch with alice's file: %d %s", code, body)
	}
	if _, body := f.do(t, "bob", "GET", "/v1/vector_stores/"+bobStore, nil); !strings.Contains(string(body), `"total":0`) {
		t.Fatalf("a refused batch attached something: %s", body)
	}
}

// What cannot be read as a document is refused at upload, and nothing of
// it is stored.
func TestUnreadableUploadsAre400(t *testing.T) {
	f := newDocServer(t, 0)
	for _, c := range []struct{ name, ctype, body, code string }{
		{"report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "PK\x03\x04", "unsupported_file"},
		{"photo.png", "image/png", "\x89PNG\r\n", "unsupported_file"},
		{"paper.pdf", "application/pdf", "not a pdf at all", "invalid_file"},
		{"notes.txt", "text/plain", "bin\x00ary", "invalid_file"},
		{"notes.txt", "text/plain", "\xff\xfe latin-1?", "invalid_file"},
	} {
		code, body := send(t, f.uploadRequest(t, "alice", c.name, c.ctype, []byte(c.body)))
		if code != http.StatusBadRequest || !strings.Contains(string(body), `"code":"`+c.code+`"`) {
			t.Errorf("%s: %d %s, want 400 %s", c.name, code, body, c.code)
		}
	}
	if _, body := f.do(t, "alice", "GET", "/v1/files", nil); strings.Contains(string(body), "file-") {
		t.Fatalf("a refused upload was stored: %s", body)
	}
}

// A filter naming another team's attributes finds nothing of that team:
// the filter narrows the caller's own compartment, never widens it.
func TestFiltersCannotReachAnotherCompartment(t *testing.T) {
	f := newDocServer(t, 0)
	bobFile := f.upload(t, "bob", "plan.txt", "merger plan codename heron")
	bobStore := f.storeWith(t, "bob")
	if code, body := f.do(t, "bob", "POST", "/v1/vector_stores/"+bobStore+"/files",
		map[string]any{"file_id": bobFile, "attributes": map[string]any{"deal": "heron"}}); code != http.StatusOK {
		t.Fatalf("attach: %d %s", code, body)
	}
	f.waitIndexed(t, "bob", bobStore, 1)
	aliceFile := f.upload(t, "alice", "notes.txt", "merger rumours")
	aliceStore := f.storeWith(t, "alice", aliceFile)

	filter := json.RawMessage(`{"type":"or","filters":[{"type":"eq","key":"deal","value":"heron"},{"type":"ne","key":"deal","value":"x"}]}`)
	for _, query := range []string{"merger plan codename heron", "heron"} {
		p := f.search(t, "alice", aliceStore, map[string]any{"query": query, "filters": filter})
		for _, r := range p.Data {
			if r.FileID != aliceFile {
				t.Fatalf("alice's filtered search %q returned %+v", query, r)
			}
		}
	}
	if p := f.search(t, "bob", bobStore, map[string]any{"query": "heron", "filters": filter}); len(p.Data) != 1 || p.Data[0].FileID != bobFile {
		t.Fatalf("bob's own filtered search: %+v", p)
	}
}
