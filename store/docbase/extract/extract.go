package extract

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"
)

// Errors. Every error Text returns wraps exactly one of them, so the HTTP
// layer can map it to a status with errors.Is and pass the message on.
var (
	// ErrUnsupported: the format is not one this package extracts.
	ErrUnsupported = errors.New("unsupported document format")
	// ErrInvalid: the bytes are not a valid document of the detected or
	// declared format (including a name and a content type that disagree,
	// text that is not UTF-8, and binary data labelled as text).
	ErrInvalid = errors.New("invalid document")
	// ErrTooLarge: the document exceeds a bound of Limits.
	ErrTooLarge = errors.New("document too large")
)

// Format names, as reported in Doc.Format.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
	FormatHTML     = "html"
	FormatJSON     = "json"
	FormatCSV      = "csv"
	FormatPDF      = "pdf"
)

// MediaType is the canonical media type of a format, which a file keeps so
// that Text reads it the same way again; text/plain for an unknown one.
func MediaType(format string) string {
	switch format {
	case FormatMarkdown:
		return "text/markdown"
	case FormatHTML:
		return "text/html"
	case FormatJSON:
		return "application/json"
	case FormatCSV:
		return "text/csv"
	case FormatPDF:
		return "application/pdf"
	}
	return "text/plain"
}

// supported is the list named in ErrUnsupported messages.
const supported = ".txt, .text, .log, .md, .markdown, .html, .htm, .json, .csv, .pdf"

// Limits bound the work one document may cause. Zero fields take the defaults.
type Limits struct {
	// MaxTextBytes bounds the extracted text (default 8 MiB), counted as
	// it is written, so a format whose text outgrows its input (JSON's key
	// paths, a compressed PDF) stops there.
	MaxTextBytes int64
	// MaxPDFPages bounds the pages of a PDF (default 2000).
	MaxPDFPages int
	// MaxJSONDepth bounds the nesting of a JSON document (default 64).
	MaxJSONDepth int
}

// Defaults of Limits.
const (
	DefaultMaxTextBytes = 8 << 20
	DefaultMaxPDFPages  = 2000
	DefaultMaxJSONDepth = 64
)

func (l Limits) withDefaults() Limits {
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = DefaultMaxTextBytes
	}
	if l.MaxPDFPages <= 0 {
		l.MaxPDFPages = DefaultMaxPDFPages
	}
	if l.MaxJSONDepth <= 0 {
		l.MaxJSONDepth = DefaultMaxJSONDepth
	}
	return l
}

// Doc is the text of one document.
type Doc struct {
	Text   string
	Format string // one of the Format constants
}

// Text extracts the text of a document named filename (used only for its
// extension, never as a path) whose declared MIME type is contentType (may
// be empty or "application/octet-stream"). Errors wrap ErrUnsupported,
// ErrInvalid or ErrTooLarge (or are ctx's error, for a cancelled PDF), and
// their messages name at most the file's extension, never the rest of its
// name, since names may hold personal data.
func Text(ctx context.Context, filename, contentType string, data []byte, lim Limits) (Doc, error) {
	lim = lim.withDefaults()
	format, err := detect(filename, contentType)
	if err != nil {
		return Doc{}, err
	}
	var text string
	if format == FormatPDF {
		text, err = pdfText(ctx, data, lim)
	} else {
		text, err = textFormat(format, data, lim)
	}
	if err != nil {
		return Doc{}, fmt.Errorf("extract %s: %w", format, err)
	}
	return Doc{Text: text, Format: format}, nil
}

// byExt and byType map what a client may say to a format.
var (
	byExt = map[string]string{
		".txt": FormatText, ".text": FormatText, ".log": FormatText,
		".md": FormatMarkdown, ".markdown": FormatMarkdown,
		".html": FormatHTML, ".htm": FormatHTML,
		".json": FormatJSON,
		".csv":  FormatCSV,
		".pdf":  FormatPDF,
	}
	byType = map[string]string{
		"text/plain":       FormatText,
		"text/markdown":    FormatMarkdown,
		"text/x-markdown":  FormatMarkdown,
		"text/html":        FormatHTML,
		"application/json": FormatJSON,
		"text/csv":         FormatCSV,
		"application/pdf":  FormatPDF,
	}
)

// detect chooses the format: the extension first, then the content type.
// When both are known and disagree the upload is refused rather than
// guessed at, except that text/plain is accepted for every text format,
// since browsers and curl often send it for .md, .csv or .json.
func detect(filename, contentType string) (string, error) {
	ext := extension(filename)
	extFormat, extKnown := byExt[ext]

	mediaType, charset, typeErr := parseContentType(contentType)
	if typeErr != nil {
		return "", typeErr
	}
	typeFormat, typeKnown := byType[mediaType]

	var format string
	switch {
	case extKnown && typeKnown && extFormat != typeFormat:
		if typeFormat == FormatText && extFormat != FormatPDF {
			format = extFormat
			break
		}
		return "", fmt.Errorf("%w: the file's extension %s says %s but its content type %s says %s",
			ErrInvalid, ext, extFormat, mediaType, typeFormat)
	case extKnown:
		format = extFormat
	case typeKnown:
		format = typeFormat
	default:
		return "", fmt.Errorf("%w: %s; supported: %s", ErrUnsupported, describe(ext, mediaType), supported)
	}
	if format != FormatPDF && charset != "" && charset != "utf-8" && charset != "us-ascii" {
		return "", fmt.Errorf("%w: charset %q (text must be UTF-8)", ErrUnsupported, charset)
	}
	return format, nil
}

// describe names what the client sent, for an ErrUnsupported message.
func describe(ext, mediaType string) string {
	what := "a file without an extension"
	if ext != "" {
		what = "extension " + ext
	}
	if mediaType != "" {
		what += " with content type " + mediaType
	}
	return what
}

// extension returns the lower-cased extension of the last path element of
// name, or "" when there is none. Only this much of a file name is ever
// used or repeated in a message: an extension that is long or not plain
// ASCII letters and digits is replaced by a placeholder, so a crafted name
// cannot smuggle its text into an error.
func extension(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return ""
	}
	ext := strings.ToLower(name[i:])
	if len(ext) > 12 || len(ext) < 2 {
		return ".(unrecognised)"
	}
	for _, c := range ext[1:] {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return ".(unrecognised)"
		}
	}
	return ext
}

// genericTypes say nothing about the format.
var genericTypes = map[string]bool{"": true, "application/octet-stream": true, "binary/octet-stream": true}

// parseContentType returns the lower-cased media type ("" for a generic
// one) and charset. mime.ParseMediaType only accepts token characters, so
// what it returns is safe to repeat in a message; its length is bounded too.
func parseContentType(contentType string) (mediaType, charset string, err error) {
	if strings.TrimSpace(contentType) == "" {
		return "", "", nil
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return "", "", fmt.Errorf("%w: malformed content type", ErrInvalid)
	}
	if len(mediaType) > 100 {
		return "", "", fmt.Errorf("%w: content type too long", ErrInvalid)
	}
	if genericTypes[mediaType] {
		return "", "", nil
	}
	charset = strings.ToLower(params["charset"])
	if len(charset) > 40 || !utf8.ValidString(charset) {
		charset = "(unrecognised)"
	}
	return mediaType, charset, nil
}
