package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

// docClients are the callers of the document-base tests, with real tokens
// of the running server: two teams, and a second project of the first.
type docClients struct {
	alice, bob, amy, both openai.Client
}

func newDocClients(t *testing.T, w *instance) docClients {
	t.Helper()
	client := func(args ...string) openai.Client {
		tok := issueToken(t, w.dataDir, append([]string{"--role", "user"}, args...)...)
		return openai.NewClient(option.WithBaseURL(w.base+"/v1/"), option.WithAPIKey(tok), option.WithMaxRetries(0))
	}
	return docClients{
		alice: client("--sub", "alice", "--team", "red", "--project", "x"),
		bob:   client("--sub", "bob", "--team", "blue", "--project", "x"),
		amy:   client("--sub", "amy", "--team", "red", "--project", "y"),
		both:  client("--sub", "dave", "--team", "red", "--teams", "blue", "--project", "x"),
	}
}

// docs are the test documents: a distinctive word in each, so that the
// keyword half of the search finds them whatever the demo model's
// (meaningless) embeddings rank.
var docs = map[string]string{
	"handbook.md": "# Travel\n\nExpenses above 500 euros need the approval of a *quartermaster* before booking.",
	"menu.html":   "<html><head><script>alert('x')</script></head><body><p>The canteen serves <b>ratatouille</b> on Fridays.</p></body></html>",
	"budget.csv":  "item,owner,amount\nservers,ops,12000\nzeppelin,marketing,99\n",
}

func upload(t *testing.T, c openai.Client, name, contentType string) *openai.FileObject {
	t.Helper()
	f, err := c.Files.New(context.Background(), openai.FileNewParams{
		File: openai.File(strings.NewReader(docs[name]), name, contentType), Purpose: openai.FilePurposeAssistants,
	})
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	return f
}

func is404(err error) bool {
	var apiErr *openai.Error
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound
}

func TestDocumentBaseEndToEnd(t *testing.T) {
	w := startWarden(t, "--lock", repoLock, "--embedding-model", demoName)
	c := newDocClients(t, w)
	ctx := context.Background()

	store, err := c.alice.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("red handbook")})
	if err != nil {
		t.Fatal(err)
	}
	// One file through the SDK's upload-and-poll, two through a batch.
	sf, err := c.alice.VectorStores.Files.UploadAndPoll(ctx, store.ID, openai.FileNewParams{
		File: openai.File(strings.NewReader(docs["handbook.md"]), "handbook.md", "text/markdown"), Purpose: openai.FilePurposeAssistants,
	}, 50)
	if err != nil || sf.Status != openai.VectorStoreFileStatusCompleted {
		t.Fatalf("upload and poll: %+v, %v", sf, err)
	}
	batch, err := c.alice.VectorStores.FileBatches.UploadAndPoll(ctx, store.ID, []openai.FileNewParams{
		{File: openai.File(strings.NewReader(docs["menu.html"]), "menu.html", "text/html"), Purpose: openai.FilePurposeAssistants},
		{File: openai.File(strings.NewReader(docs["budget.csv"]), "budget.csv", "text/csv"), Purpose: openai.FilePurposeAssistants},
	}, nil, 50)
	if err != nil || batch.Status != openai.VectorStoreFileBatchStatusCompleted || batch.FileCounts.Completed != 2 {
		t.Fatalf("batch: %+v, %v", batch, err)
	}

	for query, want := range map[string]string{"quartermaster approval": "handbook.md", "ratatouille": "menu.html", "zeppelin": "budget.csv"} {
		page, err := c.alice.VectorStores.Search(ctx, store.ID, openai.VectorStoreSearchParams{
			Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String(query)}, MaxNumResults: openai.Int(3),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) == 0 || page.Data[0].Filename != want {
			t.Fatalf("search %q: %+v, want %s first", query, page.Data, want)
		}
		if strings.Contains(page.Data[0].Content[0].Text, "alert(") {
			t.Fatalf("the HTML's script was indexed: %q", page.Data[0].Content[0].Text)
		}
	}

	// Other compartments see nothing of it, and are told so exactly as
	// for a missing id: another team, and another project of the same team.
	for name, other := range map[string]openai.Client{"bob (blue)": c.bob, "amy (red, project y)": c.amy} {
		if _, err := other.VectorStores.Get(ctx, store.ID); !is404(err) {
			t.Errorf("%s gets alice's store: %v", name, err)
		}
		if _, err := other.VectorStores.Search(ctx, store.ID, openai.VectorStoreSearchParams{
			Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("quartermaster")}}); !is404(err) {
			t.Errorf("%s searches alice's store: %v", name, err)
		}
		if _, err := other.Files.Get(ctx, sf.ID); !is404(err) {
			t.Errorf("%s gets alice's file: %v", name, err)
		}
		list, err := other.VectorStores.List(ctx, openai.VectorStoreListParams{})
		if err != nil || len(list.Data) != 0 {
			t.Errorf("%s lists stores: %+v, %v", name, list, err)
		}
	}
	// Nor can another team attach alice's file to a store of its own.
	bobStore, err := c.bob.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("blue")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.bob.VectorStores.Files.New(ctx, bobStore.ID, openai.VectorStoreFileNewParams{FileID: sf.ID}); !is404(err) {
		t.Errorf("bob attaches alice's file: %v", err)
	}
	bobFile := upload(t, c.bob, "budget.csv", "text/csv")
	if _, err := c.alice.VectorStores.Files.New(ctx, store.ID, openai.VectorStoreFileNewParams{FileID: bobFile.ID}); !is404(err) {
		t.Errorf("alice attaches bob's file: %v", err)
	}
	// A member of both teams reaches red's store in red (its default), and
	// not from blue.
	if _, err := c.both.VectorStores.Get(ctx, store.ID); err != nil {
		t.Errorf("dave in red: %v", err)
	}
	if _, err := c.both.VectorStores.Get(ctx, store.ID, option.WithHeader("Warden-Team", "blue")); !is404(err) {
		t.Errorf("dave in blue gets red's store: %v", err)
	}

	checkFileSearch(t, c, store.ID)

	// Deleting the file removes it from search at once.
	if _, err := c.alice.Files.Delete(ctx, sf.ID); err != nil {
		t.Fatal(err)
	}
	page, err := c.alice.VectorStores.Search(ctx, store.ID, openai.VectorStoreSearchParams{
		Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("quartermaster")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Data {
		if r.FileID == sf.ID {
			t.Fatalf("deleted file still found: %+v", r)
		}
	}

	// The audit log has each operation, with ids and never the documents.
	// (Stopping the server first flushes its writer.)
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	recs := exportRecords(t, w.dataDir)
	for _, action := range []string{"file.upload", "vector_store.create", "vector_store.file.attach",
		"vector_store.file_batch.attach", "vector_store.search", "responses.file_search", "file.delete"} {
		if count(recs, "action", action) == 0 {
			t.Errorf("no %s record", action)
		}
	}
	for _, r := range recs {
		for _, v := range r {
			if s, ok := v.(string); ok && (strings.Contains(s, "canteen serves") || strings.Contains(s, "Expenses above")) {
				t.Fatalf("a record holds document text: %v", r)
			}
		}
	}
}

// checkFileSearch runs /v1/responses with file_search over alice's store,
// streaming and not, through the SDK: the demo model's text is noise, so
// what is checked is what was retrieved and cited, and that another team
// cannot name the store.
func checkFileSearch(t *testing.T, c docClients, storeID string) {
	t.Helper()
	ctx := context.Background()
	params := responses.ResponseNewParams{
		Model:           demoName,
		Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("Who approves travel above 500 euros? quartermaster")},
		Tools:           []responses.ToolUnionParam{{OfFileSearch: &responses.FileSearchToolParam{VectorStoreIDs: []string{storeID}, MaxNumResults: openai.Int(2)}}},
		Include:         []responses.ResponseIncludable{responses.ResponseIncludableFileSearchCallResults},
		MaxOutputTokens: openai.Int(16),
	}
	resp, err := c.alice.Responses.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Output) != 2 {
		t.Fatalf("output: %s", resp.RawJSON())
	}
	call := resp.Output[0].AsFileSearchCall()
	if len(call.Results) == 0 || call.Results[0].Filename != "handbook.md" || !strings.Contains(call.Results[0].Text, "quartermaster") {
		t.Fatalf("file_search_call: %s", resp.Output[0].RawJSON())
	}
	cited := map[string]bool{}
	for _, a := range resp.Output[1].AsMessage().Content[0].AsOutputText().Annotations {
		cited[a.AsFileCitation().Filename] = true
	}
	if !cited["handbook.md"] {
		t.Fatalf("handbook.md not cited: %s", resp.Output[1].RawJSON())
	}

	stream := c.alice.Responses.NewStreaming(ctx, params)
	var types []string
	var final responses.Response
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if e, ok := ev.AsAny().(responses.ResponseCompletedEvent); ok {
			final = e.Response
		}
		if e, ok := ev.AsAny().(responses.ResponseIncompleteEvent); ok {
			final = e.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(types) < 8 || types[0] != "response.created" || final.ID == "" ||
		final.Output[0].AsFileSearchCall().Results[0].Filename != "handbook.md" {
		t.Fatalf("stream events %q, final %s", types, final.RawJSON())
	}

	if _, err := c.bob.Responses.New(ctx, params); !is404(err) {
		t.Fatalf("bob's file_search over alice's store: %v", err)
	}
}

// A server killed while it indexes leaves no file half indexed: after the
// restart the file is failed (and holds no chunks) or, had indexing
// finished first, completed and searchable; never in_progress forever.
func TestIndexingSurvivesKill9(t *testing.T) {
	w := startWarden(t, "--lock", repoLock, "--embedding-model", demoName)
	c := newDocClients(t, w)
	ctx := context.Background()
	var text strings.Builder
	for i := 0; text.Len() < 2<<20; i++ {
		fmt.Fprintf(&text, "paragraph %d mentions the word pelican and nothing else of note.\n", i)
	}
	f, err := c.alice.Files.New(ctx, openai.FileNewParams{
		File: openai.File(strings.NewReader(text.String()), "long.txt", "text/plain"), Purpose: openai.FilePurposeAssistants,
	})
	if err != nil {
		t.Fatal(err)
	}
	store, err := c.alice.VectorStores.New(ctx, openai.VectorStoreNewParams{FileIDs: []string{f.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(w.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w.stop()

	again := startWarden(t, "--lock", repoLock, "--embedding-model", demoName, "--data-dir", w.dataDir)
	again.dataDir = w.dataDir // the tokens must be signed with the first run's key
	c = newDocClients(t, again)
	sf, err := c.alice.VectorStores.Files.Get(ctx, store.ID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.alice.VectorStores.Search(ctx, store.ID, openai.VectorStoreSearchParams{
		Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("pelican")}})
	if err != nil {
		t.Fatal(err)
	}
	switch sf.Status {
	case openai.VectorStoreFileStatusFailed:
		if len(page.Data) != 0 || !strings.Contains(sf.LastError.Message, "interrupted") {
			t.Fatalf("failed file: last_error %+v, %d chunks found", sf.LastError, len(page.Data))
		}
		t.Logf("killed while indexing: the file is failed (%s)", sf.LastError.Message)
	case openai.VectorStoreFileStatusCompleted:
		if len(page.Data) == 0 {
			t.Fatal("completed file has no chunks")
		}
		t.Log("indexing had finished before the kill")
	default:
		t.Fatalf("after a restart the file is %s", sf.Status)
	}
}
