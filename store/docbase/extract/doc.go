// Package extract turns the bytes of an uploaded document into the plain
// text that the document base chunks and indexes: plain text, Markdown,
// HTML, JSON, CSV and PDF. Text is the whole API; docs/docbase.md
// ("Extraction") describes the rules.
//
// Every input is hostile: the work one document may cause is bounded by
// Limits, and every error wraps ErrUnsupported, ErrInvalid or ErrTooLarge
// with a message that repeats at most the file's extension.
//
// PDF text comes from github.com/ledongthuc/pdf: pure Go, without
// dependencies, and a maintained fork of rsc.io/pdf (which has had no
// release since 2015). pdfcpu processes PDFs rather than extracting their
// text, and go-pdfium needs the pdfium library or a WebAssembly runtime.
// The library panics on malformed input and bounds little itself, so this
// package refuses files that declare absurd object counts before parsing
// (pdfguard.go), checks the object streams of the cross-reference table
// after opening, reads the file through an io.ReaderAt that enforces the
// context, a read budget and a stack depth from inside every library call
// that reads (pdfread.go), runs every call under recover, walks the page
// tree itself (bounded, safe against cycles) and interprets each page's
// content with its own callback, which stops at the text limit and checks
// the context every few operators. What remains: a loop or recursion
// inside the library that reads nothing cannot be interrupted from Go, and
// a stack overflow ends the process; only running extraction in a
// separate sandboxed process removes that risk.
package extract
