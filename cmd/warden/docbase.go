package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/models/trust"
	"github.com/warden-llm/warden/server"
	"github.com/warden-llm/warden/store"
	"github.com/warden-llm/warden/store/docbase"
)

// docsOptions configure the document base (/v1/files, /v1/vector_stores):
// which model embeds its chunks and queries, and how large an upload may
// be. Without an embedding model the document base is off.
type docsOptions struct {
	embeddingModel string
	maxUpload      int64
}

func (d *docsOptions) register(f *pflag.FlagSet) {
	f.StringVar(&d.embeddingModel, "embedding-model", "", "models.lock name of the model that embeds documents for /v1/files and /v1/vector_stores, loaded beside --model (or that one, if the same); empty: the document base is off")
	f.Int64Var(&d.maxUpload, "max-upload-bytes", server.DefaultMaxUploadBytes, "largest file POST /v1/files accepts, in bytes")
}

func (d *docsOptions) validate() error {
	// Only serve's own --model may be a path (and unpinned): a second
	// model is always one the lockfile pins, as models an admin loads are.
	if trust.LooksLikePath(d.embeddingModel) {
		return fmt.Errorf("--embedding-model %q (docbase.embedding_model): name a model pinned in models.lock, not a file", d.embeddingModel)
	}
	if d.maxUpload <= 0 {
		return fmt.Errorf("--max-upload-bytes (docbase.max_upload_bytes) %d: want a positive size", d.maxUpload)
	}
	return nil
}

// loadModel loads the embedding model with the chat models' checks, or
// returns served when it has the same name: one model, loaded once, may
// answer chats and embed documents. nil: no embedding model.
func (d *docsOptions) loadModel(ctx context.Context, l *modelLoader, served loadedModel) (loadedModel, error) {
	switch d.embeddingModel {
	case "":
		return nil, nil
	case served.Info().Name:
		return served, nil
	}
	// Checked here first so that a missing entry is not reported as
	// --model's, with its advice to pass a path.
	lock, err := lockfile.Read(l.lockPath)
	if err != nil {
		return nil, fmt.Errorf("--embedding-model %s: %w", d.embeddingModel, err)
	}
	if _, err := lock.Lookup(d.embeddingModel); err != nil {
		return nil, fmt.Errorf("--embedding-model %s: %w (pin it in %s with warden models add)", d.embeddingModel, err, l.lockPath)
	}
	m, _, err := l.load(ctx, d.embeddingModel, false)
	if err != nil {
		return nil, fmt.Errorf("--embedding-model %s: %w", d.embeddingModel, err)
	}
	return m, nil
}

// open opens docbase.db in dir for the embedding model m, or reports the
// document base off when there is none.
func (d *docsOptions) open(ctx context.Context, dir store.Dir, m engine.Generator, log *slog.Logger) (server.Docs, error) {
	if m == nil {
		log.Info("document base off: no embedding model, so /v1/files and /v1/vector_stores answer 501 (--embedding-model NAME turns it on)")
		return server.Docs{}, nil
	}
	info := m.Info()
	path := filepath.Join(dir.Path(), docbase.FileName)
	db, err := docbase.Open(ctx, dir.Path(), docbase.Options{Dimensions: info.Dimensions})
	if errors.Is(err, docbase.ErrDimensions) {
		// The vectors of two models are not comparable, so the database
		// cannot be converted: the operator chooses between the old model
		// and starting the document base afresh.
		return server.Docs{}, fmt.Errorf("--embedding-model %s embeds in %d dimensions: %w; "+
			"serve with the embedding model that built the document base, or, to change models, "+
			"stop Warden and move %s out of the data directory (its files and vector stores are then gone from this server: upload and attach them again), "+
			"or use another --data-dir", info.Name, info.Dimensions, err, path)
	}
	if err != nil {
		return server.Docs{}, err
	}
	log.Info("document base", "path", path, "embedding_model", info.Name, "dimensions", info.Dimensions, "max_upload_bytes", d.maxUpload)
	return server.Docs{DB: db, EmbeddingModel: info.Name, MaxUploadBytes: d.maxUpload}, nil
}

// closeDocs closes the document base at shutdown, once nothing uses it.
func closeDocs(db *docbase.DB, log *slog.Logger) {
	if err := db.Close(); err != nil {
		log.Error("document base: close", "err", err)
	}
}
