package extract

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// utf8BOM is stripped from text formats: editors on Windows write it, and
// it is not part of the text.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// textFormat checks that data is UTF-8 text and extracts it as format.
func textFormat(format string, data []byte, lim Limits) (string, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if bytes.HasPrefix(data, []byte("%PDF-")) {
		return "", fmt.Errorf("%w: the data is a PDF, not %s", ErrInvalid, format)
	}
	// A NUL never occurs in text but is in nearly every binary file, so it
	// tells a mislabelled upload (an image named .txt) from text.
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return "", fmt.Errorf("%w: NUL byte at offset %d: binary data, not %s", ErrInvalid, i, format)
	}
	if !utf8.Valid(data) {
		return "", fmt.Errorf("%w: not valid UTF-8 at offset %d", ErrInvalid, invalidUTF8At(data))
	}
	switch format {
	case FormatText, FormatMarkdown:
		// Kept as is: chunking and the embedding model take plain text and
		// Markdown alike, and the markup helps a reader of a cited chunk.
		if int64(len(data)) > lim.MaxTextBytes {
			return "", tooLarge(lim)
		}
		return string(data), nil
	case FormatHTML:
		return htmlText(data, lim)
	case FormatJSON:
		return jsonText(data, lim)
	case FormatCSV:
		return csvText(data, lim)
	}
	return "", fmt.Errorf("%w: %s", ErrUnsupported, format)
}

func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(data)
}

func tooLarge(lim Limits) error {
	return fmt.Errorf("%w: extracted text exceeds %d bytes", ErrTooLarge, lim.MaxTextBytes)
}

// sink collects extracted text up to a limit, so a small input that
// expands (JSON key paths repeated on every line, a compressed PDF stream)
// fails with ErrTooLarge instead of growing without bound.
type sink struct {
	b   strings.Builder
	max int64
	lim Limits
}

func newSink(lim Limits) *sink { return &sink{max: lim.MaxTextBytes, lim: lim} }

func (s *sink) WriteString(str string) error {
	if int64(s.b.Len())+int64(len(str)) > s.max {
		return tooLarge(s.lim)
	}
	s.b.WriteString(str)
	return nil
}

func (s *sink) Len() int { return s.b.Len() }

func (s *sink) String() string { return s.b.String() }
