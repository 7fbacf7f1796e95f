// Package docbase stores the document base behind retrieval: uploaded
// files, OpenAI-shaped vector stores, the files attached to them, and
// their chunks with embeddings and a keyword index, in one SQLite
// database (docbase.db) with sqlite-vec for vectors and FTS5 for words.
//
// # Compartments
//
// Every file and vector store belongs to exactly one Compartment: a team
// and project, or the personal compartment of a subject that has neither.
// The caller (the server, from the verified token) passes the compartment
// to every operation; it is never read from request data. Anything outside
// the caller's compartment is answered with ErrNotFound, the same error a
// missing id gets, so that ids cannot be probed. Ids are random (128 bits).
//
// # Filter before search
//
// The compartment is part of each index query itself, never a filter
// applied to a global top-k afterwards:
//   - the vec0 table is partitioned by compartment (a "partition key"
//     column), and a KNN query names its partition, so sqlite-vec scans
//     only that compartment's vectors;
//   - the same KNN query restricts the scan to the candidate chunks: those
//     of the completed files of the requested stores that pass the
//     attribute filter, through a metadata column (store or store_file)
//     or the chunk ids (see knn). sqlite-vec (v0.1.6 on) applies these
//     constraints while it scans, before it keeps the k nearest, so a
//     filter never shrinks k below what the compartment could return;
//   - each compartment has its own FTS5 table, so a keyword query reads
//     only that compartment's words, and BM25's statistics (how rare a
//     word is) come from that compartment alone: one shared index would
//     let another team's documents shift the ranking, a side channel. The
//     store and attribute constraints sit in the same WHERE as the MATCH,
//     which SQL applies before ORDER BY rank and LIMIT.
//
// The two rankings are fused by reciprocal rank fusion (see Search).
//
// Admin helpers (AdminListStores, AdminDeleteStore) see store metadata
// across compartments for clean-up; nothing here lets them read content.
package docbase
