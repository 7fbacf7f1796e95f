package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/warden-llm/warden/store/docbase"
	"github.com/warden-llm/warden/store/docbase/extract"
)

// indexer runs the indexing of attached files in the background, one file
// at a time: indexing competes with generation for the same cores, and a
// queue of uploads must not starve the requests being answered.
type indexer struct {
	ctx    context.Context // ends when the server stops
	cancel context.CancelFunc
	wg     sync.WaitGroup
	slot   chan struct{}
}

func newIndexer() *indexer {
	ctx, cancel := context.WithCancel(context.Background())
	return &indexer{ctx: ctx, cancel: cancel, slot: make(chan struct{}, 1)}
}

// stop cancels indexing still queued or running, which leaves those
// files failed ("indexing was interrupted"), and waits for it to end.
func (ix *indexer) stop() {
	ix.cancel()
	ix.wg.Wait()
}

// indexJob is one attached file to index.
type indexJob struct {
	comp            docbase.Compartment
	storeID, fileID string
	chunking        docbase.ChunkingStrategy
}

// startIndexing indexes an in_progress store file in the background. The
// file ends completed or failed, whatever happens: on an error, on
// shutdown, or on a crash (docbase.Open fails what a crash left).
func (s *Server) startIndexing(job indexJob) {
	ix := s.indexer
	ix.wg.Add(1)
	go func() {
		defer ix.wg.Done()
		select {
		case ix.slot <- struct{}{}:
			defer func() { <-ix.slot }()
			err := s.index(ix.ctx, job)
			if err == nil {
				return
			}
			s.failIndexing(job, err)
		case <-ix.ctx.Done():
			s.failIndexing(job, ix.ctx.Err())
		}
	}()
}

// failIndexing records why a file could not be indexed. The message is
// what pollers of the file see as last_error.
func (s *Server) failIndexing(job indexJob, err error) {
	code, msg := "server_error", "indexing failed; the server log has the reason"
	switch {
	case errors.Is(err, context.Canceled):
		msg = "indexing was interrupted: the server stopped"
	case errors.Is(err, extract.ErrUnsupported):
		code, msg = "unsupported_file", err.Error()
	case errors.Is(err, extract.ErrInvalid), errors.Is(err, extract.ErrTooLarge), errors.Is(err, docbase.ErrInvalid):
		code, msg = "invalid_file", err.Error()
	}
	s.log.Warn("indexing failed", "store", job.storeID, "file", job.fileID, "err", err)
	if ferr := s.cfg.Docs.DB.FailFile(context.WithoutCancel(s.indexer.ctx), job.comp, job.storeID, job.fileID, code, msg); ferr != nil &&
		!errors.Is(ferr, docbase.ErrNotFound) { // detached or deleted meanwhile: nothing to mark
		s.log.Error("could not mark a file's indexing failed", "store", job.storeID, "file", job.fileID, "err", ferr)
	}
}

// index extracts a file's text, chunks it in the embedding model's
// tokens, embeds the chunks and stores them, in one transaction at the
// end (docbase.IndexFile), so that a file is never half indexed.
func (s *Server) index(ctx context.Context, job indexJob) error {
	db := s.cfg.Docs.DB
	f, err := db.GetFile(ctx, job.comp, job.fileID)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	data, err := db.FileContent(ctx, job.comp, job.fileID)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	doc, err := extract.Text(ctx, f.Filename, f.MediaType, data, extract.Limits{})
	if err != nil {
		return err
	}
	m, err := s.embeddingModel()
	if err != nil {
		return err
	}
	defer m.release()
	chunks, err := docbase.Split(doc.Text, job.chunking, m.countOrBytes)
	if err != nil {
		return err
	}
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = c.Text
	}
	vecs, err := m.embedTexts(ctx, texts)
	if err != nil {
		return err
	}
	in := make([]docbase.ChunkInput, len(chunks))
	for i, c := range chunks {
		in[i] = docbase.ChunkInput{Text: c.Text, Tokens: c.Tokens, Embedding: vecs[i]}
	}
	_, err = db.IndexFile(ctx, job.comp, job.storeID, job.fileID, in)
	return err
}

// countOrBytes counts text's tokens; should the tokenizer fail, the byte
// length stands in, which no tokenizer exceeds, so chunks stay in bounds.
func (m docModel) countOrBytes(text string) int {
	n, err := m.count(text)
	if err != nil {
		return len(text)
	}
	return n
}
