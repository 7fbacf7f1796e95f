package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/store/docbase"
)

// fileBatch is a vector store file batch: files attached together, whose
// status is theirs. Batches are kept in memory only (the files and their
// status are in the document base); after a restart a batch id is not
// found, while every one of its files still is.
type fileBatch struct {
	id        string
	comp      docbase.Compartment
	storeID   string
	fileIDs   []string
	createdAt int64
}

// maxFileBatches bounds the batches remembered; the oldest are forgotten.
const maxFileBatches = 10000

// fileBatches remembers recent batches.
type fileBatches struct {
	mu    sync.Mutex
	byID  map[string]fileBatch
	order []string
}

func newFileBatches() *fileBatches { return &fileBatches{byID: map[string]fileBatch{}} }

func (b *fileBatches) add(fb fileBatch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.order) == maxFileBatches {
		delete(b.byID, b.order[0])
		b.order = b.order[1:]
	}
	b.byID[fb.id] = fb
	b.order = append(b.order, fb.id)
}

// get finds a batch of comp's store storeID: another compartment's or
// store's batch is not found, as a missing one.
func (b *fileBatches) get(comp docbase.Compartment, storeID, id string) (fileBatch, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fb, ok := b.byID[id]
	return fb, ok && fb.comp == comp && fb.storeID == storeID
}

type fileBatchObject struct {
	ID            string           `json:"id"`
	Object        string           `json:"object"`
	CreatedAt     int64            `json:"created_at"`
	VectorStoreID string           `json:"vector_store_id"`
	Status        string           `json:"status"`
	FileCounts    fileCountsObject `json:"file_counts"`
}

type fileBatchRequest struct {
	FileIDs          []string           `json:"file_ids"`
	Attributes       docbase.Attributes `json:"attributes"`
	ChunkingStrategy *chunkingJSON      `json:"chunking_strategy"`
}

// createFileBatch serves POST /v1/vector_stores/{id}/file_batches: every
// file is checked to be the caller's before any is attached.
func (s *Server) createFileBatch(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	var body fileBatchRequest
	if err := s.decodeBody(c, &body); err != nil {
		return err
	}
	if len(body.FileIDs) == 0 || len(body.FileIDs) > maxFilesPerCall {
		return invalidParam("file_ids", fmt.Sprintf("file_ids must name 1 to %d files", maxFilesPerCall))
	}
	cs, err := body.ChunkingStrategy.toDocbase()
	if err != nil {
		return err
	}
	storeID := c.Param("id")
	ctx := c.Request().Context()
	if _, err := db.GetStore(ctx, comp, storeID); err != nil {
		return docError(err, "vector store", storeID)
	}
	for _, id := range body.FileIDs {
		if _, err := db.GetFile(ctx, comp, id); err != nil {
			return docError(err, "file", id)
		}
	}
	for _, id := range body.FileIDs {
		if _, err := s.attach(c, comp, storeID, id, body.Attributes, cs); err != nil {
			return err
		}
	}
	id := "vsfb_" + newID()
	fb := fileBatch{id: id, comp: comp, storeID: storeID, fileIDs: body.FileIDs, createdAt: time.Now().Unix()}
	s.batches.add(fb)
	x := exchangeOf(c)
	x.action = "vector_store.file_batch.attach"
	x.detail = fmt.Sprintf("store=%s batch=%s files=%s compartment=%s", storeID, id, strings.Join(body.FileIDs, ","), comp)
	return s.writeBatch(c, fb)
}

// getFileBatch serves GET /v1/vector_stores/{id}/file_batches/{batch_id}.
func (s *Server) getFileBatch(c echo.Context) error {
	_, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	id := c.Param("batch_id")
	fb, ok := s.batches.get(comp, c.Param("id"), id)
	if !ok {
		return docError(docbase.ErrNotFound, "vector store file batch", id)
	}
	return s.writeBatch(c, fb)
}

// writeBatch answers with the batch and its files' current counts. A file
// detached or deleted since counts as cancelled.
func (s *Server) writeBatch(c echo.Context, fb fileBatch) error {
	var n docbase.FileCounts
	for _, id := range fb.fileIDs {
		sf, err := s.cfg.Docs.DB.GetStoreFile(c.Request().Context(), fb.comp, fb.storeID, id)
		switch {
		case errors.Is(err, docbase.ErrNotFound):
			n.Cancelled++
		case err != nil:
			return err
		case sf.Status == docbase.StatusInProgress:
			n.InProgress++
		case sf.Status == docbase.StatusCompleted:
			n.Completed++
		case sf.Status == docbase.StatusFailed:
			n.Failed++
		default:
			n.Cancelled++
		}
		n.Total++
	}
	status := docbase.StatusCompleted
	if n.InProgress > 0 {
		status = docbase.StatusInProgress
	}
	return c.JSON(http.StatusOK, fileBatchObject{ID: fb.id, Object: "vector_store.files_batch",
		CreatedAt: fb.createdAt, VectorStoreID: fb.storeID, Status: status, FileCounts: countsJSON(n)})
}
