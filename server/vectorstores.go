package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/store/docbase"
)

// vectorStoreObject is OpenAI's vector_store object.
type vectorStoreObject struct {
	ID           string            `json:"id"`
	Object       string            `json:"object"`
	CreatedAt    int64             `json:"created_at"`
	Name         string            `json:"name"`
	UsageBytes   int64             `json:"usage_bytes"`
	FileCounts   fileCountsObject  `json:"file_counts"`
	Status       string            `json:"status"`
	ExpiresAfter *struct{}         `json:"expires_after"`
	ExpiresAt    *int64            `json:"expires_at"`
	LastActiveAt int64             `json:"last_active_at"`
	Metadata     map[string]string `json:"metadata"`
}

type fileCountsObject struct {
	InProgress int64 `json:"in_progress"`
	Completed  int64 `json:"completed"`
	Failed     int64 `json:"failed"`
	Cancelled  int64 `json:"cancelled"`
	Total      int64 `json:"total"`
}

func countsJSON(n docbase.FileCounts) fileCountsObject {
	return fileCountsObject{InProgress: n.InProgress, Completed: n.Completed, Failed: n.Failed,
		Cancelled: n.Cancelled, Total: n.Total}
}

func storeJSON(v docbase.Store) vectorStoreObject {
	meta := v.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	return vectorStoreObject{ID: v.ID, Object: "vector_store", CreatedAt: v.CreatedAt, Name: v.Name,
		UsageBytes: v.UsageBytes, FileCounts: countsJSON(v.FileCounts), Status: v.Status,
		LastActiveAt: v.LastActiveAt, Metadata: meta}
}

// chunkingJSON is OpenAI's chunking_strategy, in requests and objects.
type chunkingJSON struct {
	Type   string `json:"type"`
	Static *struct {
		MaxChunkSizeTokens int `json:"max_chunk_size_tokens"`
		ChunkOverlapTokens int `json:"chunk_overlap_tokens"`
	} `json:"static,omitempty"`
}

// toDocbase checks the strategy's shape; docbase checks its numbers.
func (c *chunkingJSON) toDocbase() (docbase.ChunkingStrategy, error) {
	if c == nil {
		return docbase.ChunkingStrategy{Type: "auto"}, nil
	}
	cs := docbase.ChunkingStrategy{Type: c.Type}
	switch {
	case c.Type == "static" && c.Static == nil:
		return cs, invalidParam("chunking_strategy", "a static chunking strategy needs its static sizes")
	case c.Type != "static" && c.Static != nil:
		return cs, invalidParam("chunking_strategy", "only a static chunking strategy takes sizes")
	case c.Static != nil:
		cs.MaxChunkSizeTokens, cs.ChunkOverlapTokens = c.Static.MaxChunkSizeTokens, c.Static.ChunkOverlapTokens
	}
	norm, err := cs.Normalize()
	if err != nil {
		return cs, invalidParam("chunking_strategy", trimDocPrefix(err.Error()))
	}
	return norm, nil
}

func chunkingOf(cs docbase.ChunkingStrategy) chunkingJSON {
	out := chunkingJSON{Type: "static"}
	out.Static = &struct {
		MaxChunkSizeTokens int `json:"max_chunk_size_tokens"`
		ChunkOverlapTokens int `json:"chunk_overlap_tokens"`
	}{cs.MaxChunkSizeTokens, cs.ChunkOverlapTokens}
	return out
}

type createStoreRequest struct {
	Name             string            `json:"name"`
	FileIDs          []string          `json:"file_ids"`
	ChunkingStrategy *chunkingJSON     `json:"chunking_strategy"`
	Metadata         map[string]string `json:"metadata"`
	ExpiresAfter     json.RawMessage   `json:"expires_after"`
}

// maxFilesPerCall bounds file_ids in one call, as OpenAI's batches do.
const maxFilesPerCall = 500

// createStore serves POST /v1/vector_stores. Files named in file_ids
// are attached as by POST /v1/vector_stores/{id}/files; a file id that
// is not the caller's is a 404 before anything is created.
func (s *Server) createStore(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	var body createStoreRequest
	if err := s.decodeBody(c, &body); err != nil {
		return err
	}
	if len(body.ExpiresAfter) > 0 && string(body.ExpiresAfter) != "null" {
		return invalidParam("expires_after", "vector stores here do not expire; delete them instead")
	}
	if len(body.FileIDs) > maxFilesPerCall {
		return invalidParam("file_ids", fmt.Sprintf("at most %d files per call", maxFilesPerCall))
	}
	cs, err := body.ChunkingStrategy.toDocbase()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	for _, id := range body.FileIDs {
		if _, err := db.GetFile(ctx, comp, id); err != nil {
			return docError(err, "file", id)
		}
	}
	v, err := db.CreateStore(ctx, comp, body.Name, body.Metadata)
	if err != nil {
		return docError(err, "vector store", "")
	}
	for _, id := range body.FileIDs {
		if _, err := s.attach(c, comp, v.ID, id, nil, cs); err != nil {
			return err
		}
	}
	x := exchangeOf(c)
	x.action = "vector_store.create"
	x.detail = fmt.Sprintf("store=%s files=%s compartment=%s", v.ID, strings.Join(body.FileIDs, ","), comp)
	if v, err = db.GetStore(ctx, comp, v.ID); err != nil {
		return docError(err, "vector store", v.ID)
	}
	return c.JSON(http.StatusOK, storeJSON(v))
}

// listStores serves GET /v1/vector_stores.
func (s *Server) listStores(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	p, err := listParams(c)
	if err != nil {
		return err
	}
	page, err := db.ListStores(c.Request().Context(), comp, p)
	if err != nil {
		return docError(err, "vector store", cursorOf(p))
	}
	return c.JSON(http.StatusOK, listJSON(page, storeJSON))
}

// getStore serves GET /v1/vector_stores/{id}.
func (s *Server) getStore(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	v, err := db.GetStore(c.Request().Context(), comp, id)
	if err != nil {
		return docError(err, "vector store", id)
	}
	return c.JSON(http.StatusOK, storeJSON(v))
}

type updateStoreRequest struct {
	Name         *string           `json:"name"`
	Metadata     map[string]string `json:"metadata"`
	ExpiresAfter json.RawMessage   `json:"expires_after"`
}

// updateStore serves POST /v1/vector_stores/{id}.
func (s *Server) updateStore(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	var body updateStoreRequest
	if err := s.decodeBody(c, &body); err != nil {
		return err
	}
	if len(body.ExpiresAfter) > 0 && string(body.ExpiresAfter) != "null" {
		return invalidParam("expires_after", "vector stores here do not expire; delete them instead")
	}
	id := c.Param("id")
	v, err := db.UpdateStore(c.Request().Context(), comp, id, docbase.StoreUpdate{Name: body.Name, Metadata: body.Metadata})
	if err != nil {
		return docError(err, "vector store", id)
	}
	exchangeOf(c).action, exchangeOf(c).detail = "vector_store.update", "store="+id
	return c.JSON(http.StatusOK, storeJSON(v))
}

// deleteStore serves DELETE /v1/vector_stores/{id}: the store and its
// chunks; its files stay, as with OpenAI.
func (s *Server) deleteStore(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if err := db.DeleteStore(c.Request().Context(), comp, id); err != nil {
		return docError(err, "vector store", id)
	}
	exchangeOf(c).action, exchangeOf(c).detail = "vector_store.delete", "store="+id
	return c.JSON(http.StatusOK, map[string]any{"id": id, "object": "vector_store.deleted", "deleted": true})
}
