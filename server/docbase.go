package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/store/docbase"
)

// Docs configures the document base: /v1/files, /v1/vector_stores and the
// file_search tool of /v1/responses.
type Docs struct {
	DB *docbase.DB
	// EmbeddingModel names the served model that embeds chunks and
	// queries; its embeddings are DB's dimensions.
	EmbeddingModel string
	// MaxUploadBytes bounds one uploaded file; 0: DefaultMaxUploadBytes.
	MaxUploadBytes int64
}

// DefaultMaxUploadBytes is OpenAI's order of magnitude for a document,
// small enough that an upload is never held in memory twice for long.
const DefaultMaxUploadBytes = 32 << 20

// Headers by which a caller whose token names several teams or projects
// picks the compartment of one request. They choose among the token's
// own claims only; a body never names a compartment.
const (
	teamHeader    = "Warden-Team"
	projectHeader = "Warden-Project"
)

// compartment is the document compartment the request works in, from the
// verified token: its team and project (or the ones the headers pick
// among the token's), or the caller's personal compartment when the
// token names neither. docs/auth.md states the rules.
func compartment(c echo.Context) (docbase.Compartment, error) {
	id := identity(c)
	h := c.Request().Header
	team, err := pick(h.Get(teamHeader), id.Teams, "team", teamHeader)
	if err != nil {
		return docbase.Compartment{}, err
	}
	project, err := pick(h.Get(projectHeader), id.Projects, "project", projectHeader)
	if err != nil {
		return docbase.Compartment{}, err
	}
	if team == "" && project == "" {
		return docbase.PersonalCompartment(id.Subject), nil
	}
	return docbase.TeamCompartment(team, project), nil
}

// pick is the asked value when the token's list holds it, the list's
// first entry (the default) when nothing is asked.
func pick(asked string, allowed []string, what, header string) (string, error) {
	if asked == "" {
		if len(allowed) == 0 {
			return "", nil
		}
		return allowed[0], nil
	}
	if !slices.Contains(allowed, asked) {
		return "", permissionError("compartment_not_allowed",
			fmt.Sprintf("the %s header names a %s your token does not carry", header, what))
	}
	return asked, nil
}

// docs returns the document base, or why there is none.
func (s *Server) docs() (*docbase.DB, error) {
	if s.cfg.Docs.DB == nil {
		return nil, requestError(http.StatusNotImplemented, "document_base_disabled",
			"this server has no document base: start it with an embedding model (--embedding-model NAME)")
	}
	return s.cfg.Docs.DB, nil
}

// docScope is what every document endpoint starts from: the document
// base, and the request's compartment in it.
func (s *Server) docScope(c echo.Context) (*docbase.DB, docbase.Compartment, error) {
	db, err := s.docs()
	if err != nil {
		return nil, docbase.Compartment{}, err
	}
	comp, err := compartment(c)
	return db, comp, err
}

// embedBatch is how many chunks one Embed call takes: large enough to
// amortise the call, small enough that other requests interleave.
const embedBatch = 64

// docModel holds the embedding model for one use; release frees it.
type docModel struct {
	embedder
	count   func(string) (int, error)
	release func()
}

// embeddingModel acquires the document base's embedding model.
func (s *Server) embeddingModel() (docModel, error) {
	name := s.cfg.Docs.EmbeddingModel
	m, ok := s.models.acquire(name)
	if !ok {
		return docModel{}, serverError(http.StatusServiceUnavailable, "embedding_model_unavailable",
			fmt.Sprintf("the document base's embedding model %q is not loaded", name))
	}
	e, ok := m.gen.(embedder)
	tc, ok2 := m.gen.(engine.TokenCounter)
	if !ok || !ok2 {
		m.release()
		return docModel{}, serverError(http.StatusServiceUnavailable, "embedding_model_unavailable",
			fmt.Sprintf("the model %q cannot embed documents", name))
	}
	return docModel{embedder: e, count: tc.CountTokens, release: m.release}, nil
}

// embedTexts embeds texts in batches, in order.
func (m docModel) embedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for batch := range slices.Chunk(texts, embedBatch) {
		in := make([]engine.EmbedInput, len(batch))
		for i, t := range batch {
			in[i] = engine.EmbedInput{Text: t}
		}
		es, err := m.Embed(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		for _, e := range es {
			out = append(out, e.Vector)
		}
	}
	return out, nil
}

// retrieval is one search of a compartment's stores.
type retrieval struct {
	StoreIDs       []string
	Query          string
	MaxResults     int
	Filter         *docbase.Filter
	ScoreThreshold float64
}

// retrieve runs a search in compartment comp: the query's embedding and
// its words against the chunks of q.StoreIDs, which must all be comp's
// (else the docbase.ErrNotFound of a missing store). The query is
// embedded before the stores are looked up, so that a store of another
// compartment costs the same time to refuse as a missing one.
func (s *Server) retrieve(ctx context.Context, comp docbase.Compartment, q retrieval) ([]docbase.SearchResult, error) {
	db, err := s.docs()
	if err != nil {
		return nil, err
	}
	m, err := s.embeddingModel()
	if err != nil {
		return nil, err
	}
	defer m.release()
	vecs, err := m.embedTexts(ctx, []string{q.Query})
	if err != nil {
		return nil, err
	}
	return db.Search(ctx, comp, docbase.SearchParams{
		StoreIDs: q.StoreIDs, Query: q.Query, Embedding: vecs[0],
		MaxResults: q.MaxResults, Filter: q.Filter, ScoreThreshold: q.ScoreThreshold,
	})
}

// docError maps a document base error onto OpenAI's shape. Anything of
// another compartment is docbase.ErrNotFound, so it reads exactly as a
// missing id: what names the object is the id the caller sent.
func docError(err error, kind, id string) error {
	switch {
	case errors.Is(err, docbase.ErrNotFound):
		return requestError(http.StatusNotFound, "", fmt.Sprintf("No %s found with id '%s'.", kind, id))
	case errors.Is(err, docbase.ErrInvalid):
		return requestError(http.StatusBadRequest, "invalid_value", trimDocPrefix(err.Error()))
	case errors.Is(err, docbase.ErrConflict):
		return requestError(http.StatusConflict, "conflict", trimDocPrefix(err.Error()))
	}
	return err
}

// trimDocPrefix drops the package prefix from a docbase message meant for
// the caller.
func trimDocPrefix(msg string) string {
	for _, p := range []string{"docbase: invalid request: ", "docbase: conflict: "} {
		if rest, ok := strings.CutPrefix(msg, p); ok {
			return rest
		}
	}
	return msg
}

// maxQueries and maxQueryBytes bound a search's query.
const (
	maxQueries    = 8
	maxQueryBytes = 4 << 10
)

// queryList reads a search query: a string or a list of strings.
func queryList(raw json.RawMessage) ([]string, error) {
	var one string
	var list []string
	if err := json.Unmarshal(raw, &one); err == nil {
		list = []string{one}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalidParam("query", "query must be a string or a list of strings")
	}
	if len(list) == 0 || len(list) > maxQueries {
		return nil, invalidParam("query", fmt.Sprintf("query must have 1 to %d strings", maxQueries))
	}
	n := 0
	for _, q := range list {
		if strings.TrimSpace(q) == "" {
			return nil, invalidParam("query", "query strings must not be empty")
		}
		n += len(q)
	}
	if n > maxQueryBytes {
		return nil, invalidParam("query", fmt.Sprintf("query must be at most %d bytes", maxQueryBytes))
	}
	return list, nil
}

// joinQueries is the text searched for several queries.
func joinQueries(qs []string) string { return strings.Join(qs, "\n") }

// searchDetail is a search's audit detail: the stores searched and each
// returned chunk with its score, never the chunks' text.
func searchDetail(storeIDs []string, results []docbase.SearchResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "stores=%s chunks=", strings.Join(storeIDs, ","))
	for i, r := range results {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%.4f", r.ChunkID, r.Score)
	}
	return b.String()
}

// docRoutes adds the document base's endpoints to the /v1 group.
func (s *Server) docRoutes(v1 *echo.Group) {
	v1.POST("/files", s.createFile)
	v1.GET("/files", s.listFiles)
	v1.GET("/files/:id", s.getFile)
	v1.GET("/files/:id/content", s.fileContent)
	v1.DELETE("/files/:id", s.deleteFile)
	v1.POST("/vector_stores", s.createStore)
	v1.GET("/vector_stores", s.listStores)
	v1.GET("/vector_stores/:id", s.getStore)
	v1.POST("/vector_stores/:id", s.updateStore)
	v1.DELETE("/vector_stores/:id", s.deleteStore)
	v1.POST("/vector_stores/:id/files", s.createStoreFile)
	v1.GET("/vector_stores/:id/files", s.listStoreFiles)
	v1.GET("/vector_stores/:id/files/:file_id", s.getStoreFile)
	v1.DELETE("/vector_stores/:id/files/:file_id", s.deleteStoreFile)
	v1.POST("/vector_stores/:id/search", s.searchStore)
	v1.POST("/vector_stores/:id/file_batches", s.createFileBatch)
	v1.GET("/vector_stores/:id/file_batches/:batch_id", s.getFileBatch)
}
