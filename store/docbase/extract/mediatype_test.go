package extract

import (
	"context"
	"testing"
)

// A file keeps MediaType(format) and is read again by it alone, under a
// name whose extension says nothing: the same format must come back.
func TestMediaTypeReadsBackTheSameFormat(t *testing.T) {
	for format, data := range map[string][]byte{
		FormatText:     []byte("plain words"),
		FormatMarkdown: []byte("# Title\n\nbody"),
		FormatHTML:     []byte("<p>hello</p>"),
		FormatJSON:     []byte(`{"a": "b"}`),
		FormatCSV:      []byte("a,b\n1,2\n"),
		FormatPDF:      makePDF("page text"),
	} {
		doc, err := Text(context.Background(), "upload", MediaType(format), data, Limits{})
		if err != nil || doc.Format != format {
			t.Errorf("%s read back as %s: %q, %v", format, MediaType(format), doc.Format, err)
		}
	}
}
