// Package runner runs a model's engine in a child process and speaks to it
// over one socket, so that a crash of llama.cpp (an assert, an abort, a
// memory error, reached from request values or from a model file's bytes)
// costs the requests that engine held and nothing else: HTTP, tokens, the
// audit writer and the keys live in the parent, which Process supervises
// the child from.
//
// The child is the same executable, started again (one binary to ship);
// the parent hands it the verified model's open file (the descriptor it
// hashed, so that what loads is what was checked) and one end of a
// socketpair. The protocol on it is small, versioned and length-prefixed:
// every frame is a 4-byte big-endian length, a kind byte, an 8-byte
// request id, and a body (JSON, or raw bytes for generated text). The
// child's first frame is hello with the protocol version; a parent that
// speaks another version stops it.
//
// Serve is the child's side; Process is the parent's, and implements the
// engine interfaces the server uses (engine.Generator, Embed, CountTokens,
// Stats, Close), so the server cannot tell a child engine from an
// in-process one except by what it reports.
package runner
