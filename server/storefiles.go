package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/store/docbase"
)

// storeFileObject is OpenAI's vector_store.file object.
type storeFileObject struct {
	ID               string             `json:"id"`
	Object           string             `json:"object"`
	UsageBytes       int64              `json:"usage_bytes"`
	CreatedAt        int64              `json:"created_at"`
	VectorStoreID    string             `json:"vector_store_id"`
	Status           string             `json:"status"`
	LastError        *lastErrorObject   `json:"last_error"`
	ChunkingStrategy chunkingJSON       `json:"chunking_strategy"`
	Attributes       docbase.Attributes `json:"attributes"`
}

type lastErrorObject struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func storeFileJSON(f docbase.StoreFile) storeFileObject {
	out := storeFileObject{ID: f.ID, Object: "vector_store.file", UsageBytes: f.UsageBytes,
		CreatedAt: f.CreatedAt, VectorStoreID: f.StoreID, Status: f.Status,
		ChunkingStrategy: chunkingOf(f.Chunking), Attributes: f.Attributes}
	if out.Attributes == nil {
		out.Attributes = docbase.Attributes{}
	}
	if f.LastError != nil {
		out.LastError = &lastErrorObject{Code: f.LastError.Code, Message: f.LastError.Message}
	}
	return out
}

type attachRequest struct {
	FileID           string             `json:"file_id"`
	Attributes       docbase.Attributes `json:"attributes"`
	ChunkingStrategy *chunkingJSON      `json:"chunking_strategy"`
}

// attach attaches a file of comp to a store of comp and starts indexing
// it. The embedding model is checked first: a file must not be left
// in_progress for want of a model that a restart would not bring.
func (s *Server) attach(c echo.Context, comp docbase.Compartment, storeID, fileID string,
	attrs docbase.Attributes, cs docbase.ChunkingStrategy) (docbase.StoreFile, error) {
	m, err := s.embeddingModel()
	if err != nil {
		return docbase.StoreFile{}, err
	}
	m.release()
	sf, err := s.cfg.Docs.DB.AddFile(c.Request().Context(), comp, storeID, fileID, attrs, cs)
	if err != nil {
		return docbase.StoreFile{}, attachError(err, storeID, fileID)
	}
	s.startIndexing(indexJob{comp: comp, storeID: storeID, fileID: fileID, chunking: sf.Chunking})
	return sf, nil
}

// attachError names the store or the file in a 404 without saying which
// of the two was missing or another compartment's: either reads the same.
func attachError(err error, storeID, fileID string) error {
	if e := docError(err, "vector store", storeID); e != err {
		if ae, ok := e.(*apiError); ok && ae.Status == http.StatusNotFound {
			ae.Message = fmt.Sprintf("No vector store '%s' with a file '%s' of yours was found.", storeID, fileID)
		}
		return e
	}
	return err
}

// createStoreFile serves POST /v1/vector_stores/{id}/files.
func (s *Server) createStoreFile(c echo.Context) error {
	_, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	var body attachRequest
	if err := s.decodeBody(c, &body); err != nil {
		return err
	}
	if body.FileID == "" {
		return invalidParam("file_id", "file_id is required")
	}
	cs, err := body.ChunkingStrategy.toDocbase()
	if err != nil {
		return err
	}
	storeID := c.Param("id")
	sf, err := s.attach(c, comp, storeID, body.FileID, body.Attributes, cs)
	if err != nil {
		return err
	}
	x := exchangeOf(c)
	x.action = "vector_store.file.attach"
	x.detail = fmt.Sprintf("store=%s file=%s compartment=%s", storeID, body.FileID, comp)
	return c.JSON(http.StatusOK, storeFileJSON(sf))
}

// listStoreFiles serves GET /v1/vector_stores/{id}/files.
func (s *Server) listStoreFiles(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	p, err := listParams(c)
	if err != nil {
		return err
	}
	storeID := c.Param("id")
	page, err := db.ListStoreFiles(c.Request().Context(), comp, storeID, c.QueryParam("filter"), p)
	if err != nil {
		return docError(err, "vector store", storeID)
	}
	return c.JSON(http.StatusOK, listJSON(page, storeFileJSON))
}

// getStoreFile serves GET /v1/vector_stores/{id}/files/{file_id}.
func (s *Server) getStoreFile(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	storeID, fileID := c.Param("id"), c.Param("file_id")
	sf, err := db.GetStoreFile(c.Request().Context(), comp, storeID, fileID)
	if err != nil {
		return attachError(err, storeID, fileID)
	}
	return c.JSON(http.StatusOK, storeFileJSON(sf))
}

// deleteStoreFile serves DELETE /v1/vector_stores/{id}/files/{file_id}:
// the file leaves the store with its chunks; the file itself stays.
func (s *Server) deleteStoreFile(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	storeID, fileID := c.Param("id"), c.Param("file_id")
	if err := db.DetachFile(c.Request().Context(), comp, storeID, fileID); err != nil {
		return attachError(err, storeID, fileID)
	}
	x := exchangeOf(c)
	x.action, x.detail = "vector_store.file.detach", fmt.Sprintf("store=%s file=%s", storeID, fileID)
	return c.JSON(http.StatusOK, map[string]any{"id": fileID, "object": "vector_store.file.deleted", "deleted": true})
}

type searchRequest struct {
	Query          json.RawMessage `json:"query"`
	MaxNumResults  *int            `json:"max_num_results"`
	Filters        json.RawMessage `json:"filters"`
	RankingOptions *struct {
		Ranker         string   `json:"ranker"`
		ScoreThreshold *float64 `json:"score_threshold"`
	} `json:"ranking_options"`
	RewriteQuery bool `json:"rewrite_query"`
}

type searchResultObject struct {
	FileID     string              `json:"file_id"`
	Filename   string              `json:"filename"`
	Score      float64             `json:"score"`
	Attributes docbase.Attributes  `json:"attributes"`
	Content    []searchTextContent `json:"content"`
}

type searchTextContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// searchStore serves POST /v1/vector_stores/{id}/search: hybrid search
// (embeddings and keywords, fused) over one store of the caller's
// compartment, filtered by attributes before ranking.
func (s *Server) searchStore(c echo.Context) error {
	comp, err := compartment(c)
	if err != nil {
		return err
	}
	var body searchRequest
	if err := s.decodeBody(c, &body); err != nil {
		return err
	}
	q, queries, err := body.retrieval()
	if err != nil {
		return err
	}
	storeID := c.Param("id")
	q.StoreIDs = []string{storeID}
	x := exchangeOf(c)
	x.action, x.prompt = "vector_store.search", q.Query
	results, err := s.retrieve(c.Request().Context(), comp, q)
	if err != nil {
		return docError(err, "vector store", storeID)
	}
	x.detail = searchDetail(q.StoreIDs, results)
	data := make([]searchResultObject, len(results))
	for i, r := range results {
		attrs := r.Attributes
		if attrs == nil {
			attrs = docbase.Attributes{}
		}
		data[i] = searchResultObject{FileID: r.FileID, Filename: r.Filename, Score: r.Score,
			Attributes: attrs, Content: []searchTextContent{{Type: "text", Text: r.Text}}}
	}
	return c.JSON(http.StatusOK, map[string]any{
		"object": "vector_store.search_results.page", "search_query": queries,
		"data": data, "has_more": false, "next_page": nil,
	})
}

// retrieval checks a search request. Several queries are searched as
// one text: their words and their joint embedding.
func (r *searchRequest) retrieval() (retrieval, []string, error) {
	var q retrieval
	queries, err := queryList(r.Query)
	if err != nil {
		return q, nil, err
	}
	q.Query = joinQueries(queries)
	if r.RewriteQuery {
		return q, nil, invalidParam("rewrite_query", "query rewriting is not offered: it would need a model call")
	}
	if r.MaxNumResults != nil {
		if *r.MaxNumResults < 1 || *r.MaxNumResults > 50 {
			return q, nil, invalidParam("max_num_results", "max_num_results must be from 1 to 50")
		}
		q.MaxResults = *r.MaxNumResults
	}
	if ro := r.RankingOptions; ro != nil {
		if ro.Ranker != "" && ro.Ranker != "auto" && ro.Ranker != "none" {
			return q, nil, invalidParam("ranking_options.ranker", "ranker must be auto or none")
		}
		if t := ro.ScoreThreshold; t != nil {
			if *t < 0 || *t > 1 {
				return q, nil, invalidParam("ranking_options.score_threshold", "score_threshold must be from 0 to 1")
			}
			q.ScoreThreshold = *t
		}
	}
	if len(r.Filters) > 0 && string(r.Filters) != "null" {
		f, err := docbase.ParseFilter(r.Filters)
		if err != nil {
			return q, nil, invalidParam("filters", trimDocPrefix(err.Error()))
		}
		q.Filter = f
	}
	return q, queries, nil
}
