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
// The library panics on malformed input and bounds nothing itself, so this
// package runs it under recover, walks the page tree itself (bounded, safe
// against cycles) and interprets each page's content with its own
// callback, which stops at the text limit and checks the context every
// few operators. What remains: a loop or deep recursion inside one call of
// the library (lexing one object, decoding one stream) cannot be
// interrupted from Go, and a stack overflow there ends the process; only
// running extraction in a separate sandboxed process removes that risk.
package extract
