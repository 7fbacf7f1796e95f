package extract

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"runtime"

	"github.com/ledongthuc/pdf"
)

// pdfReadSlack is added to the read budget, so small files are not held
// to a few megabytes (the library reads 4 KiB for every object it
// resolves, and resolves on every lookup: it caches nothing). A variable
// so that tests of the budget need not read 256 MiB.
var pdfReadSlack int64 = 256 << 20

// Bounds of the library's reads of the file (see guardedReader).
const (
	// pdfReadFactor bounds the bytes the library may read, in all, to this
	// many times the file's size (plus pdfReadSlack): rereading objects is
	// normal, rereading the file without end is a loop.
	pdfReadFactor = 256
	// maxPDFStackDepth bounds the call depth at which the library may read.
	// Its object resolution and its lexer recurse; a file crafted to make
	// them recurse without end would overflow the goroutine's stack, which
	// is fatal to the process, not a panic that recover can catch.
	maxPDFStackDepth = 5_000
)

// guardedReader is the io.ReaderAt the library reads the file through. It
// is the one place where control comes back to this package from inside
// any library call that reads, so it enforces what recover cannot: the
// context, a budget of bytes read, and a bound on the stack's depth. When
// one is exceeded it panics with abort, which unwinds the library to the
// recover in openPDF, pageList or pageText, and keeps panicking on every
// later read, so a library recover that swallows the first one does not
// let the work go on.
type guardedReader struct {
	ctx    context.Context
	data   []byte
	budget int64
	pcs    []uintptr
	err    error
}

func newGuardedReader(ctx context.Context, data []byte) *guardedReader {
	return &guardedReader{
		ctx:    ctx,
		data:   data,
		budget: pdfReadFactor*int64(len(data)) + pdfReadSlack,
		pcs:    make([]uintptr, maxPDFStackDepth),
	}
}

func (g *guardedReader) ReadAt(p []byte, off int64) (int, error) {
	if g.err == nil {
		g.budget -= int64(len(p))
		switch {
		case g.ctx.Err() != nil:
			g.err = g.ctx.Err()
		case g.budget < 0:
			g.err = fmt.Errorf("%w: the PDF needs too much reading to parse (a loop in its structure?)", ErrTooLarge)
		case runtime.Callers(0, g.pcs) == len(g.pcs):
			g.err = fmt.Errorf("%w: PDF objects nested or referring to each other too deeply", ErrInvalid)
		}
	}
	if g.err != nil {
		panic(abort{g.err})
	}
	if off < 0 {
		return 0, fmt.Errorf("pdf: negative offset")
	}
	if off >= int64(len(g.data)) {
		return 0, io.EOF
	}
	n := copy(p, g.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// checkObjectStreams refuses a file whose cross-reference data puts an
// object in an object stream that is itself in an object stream (or
// missing). The library resolves such an object by resolving its stream
// first, recursively and without reading anything, so guardedReader
// never sees it: a stream said to be in itself overflows the stack. The
// table is unexported, so it is read by reflection; should a new version
// of the library rename it, the check fails closed and TestPDFSelfStream
// says so.
func checkObjectStreams(r *pdf.Reader) error {
	table := reflect.ValueOf(r).Elem().FieldByName("xref")
	if !table.IsValid() || table.Kind() != reflect.Slice || !hasXrefFields(table.Type().Elem()) {
		return fmt.Errorf("%w: PDF reading is disabled: the PDF library's internals changed (see checkObjectStreams)", ErrUnsupported)
	}
	for i := 0; i < table.Len(); i++ {
		e := table.Index(i)
		if !e.FieldByName("inStream").Bool() {
			continue
		}
		s := e.FieldByName("stream").FieldByName("id").Uint()
		if s >= uint64(table.Len()) {
			return fmt.Errorf("%w: PDF object %d is in a missing object stream", ErrInvalid, i)
		}
		if st := table.Index(int(s)); st.FieldByName("inStream").Bool() || st.FieldByName("offset").Int() == 0 {
			return fmt.Errorf("%w: PDF object stream %d is not a plain object", ErrInvalid, s)
		}
	}
	return nil
}

// hasXrefFields says whether t is still the library's xref entry type as
// checkObjectStreams knows it.
func hasXrefFields(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	want := map[string]reflect.Kind{"inStream": reflect.Bool, "offset": reflect.Int64, "stream": reflect.Struct}
	for name, kind := range want {
		f, ok := t.FieldByName(name)
		if !ok || f.Type.Kind() != kind {
			return false
		}
	}
	id, ok := t.Field(mustIndex(t, "stream")).Type.FieldByName("id")
	return ok && id.Type.Kind() == reflect.Uint32
}

func mustIndex(t reflect.Type, name string) int {
	f, _ := t.FieldByName(name)
	return f.Index[0]
}
