package extract

import (
	"io"

	"github.com/ledongthuc/pdf"
)

// maxDifferences bounds a simple font's /Differences array: it names at
// most 256 codes, with a few starting numbers between them.
const maxDifferences = 1024

// checkFont says whether the library may decode text with the font's
// encoding. Besides its CMap (checkCMap), the library scans the whole
// /Differences array for every byte of text it decodes: a long array makes
// that quadratic, in a loop that reads nothing.
func checkFont(font pdf.Value) bool {
	if enc := font.Key("Encoding"); enc.Kind() == pdf.Dict {
		if d := enc.Key("Differences"); d.Kind() == pdf.Array && d.Len() > maxDifferences {
			return false
		}
	}
	return checkCMap(font.Key("ToUnicode"))
}

// maxCMapBytes bounds the ToUnicode CMap of a font that checkCMap reads;
// real ones, CJK fonts' included, are well under it.
const maxCMapBytes = 2 << 20

// checkCMap says whether the library may parse a font's ToUnicode CMap.
// The library trusts the count before each beginbfchar or beginbfrange
// block and appends that many entries, popping its (by then empty) stack:
// "1000000000 beginbfrange" in a stream of a few bytes is a loop that
// reads nothing, allocating gigabytes. CMaps are nearly always compressed,
// so the scan of the file before parsing cannot see them; this reads the
// decoded CMap (through guardedReader, up to maxCMapBytes) and refuses it
// if any integer in it exceeds what its size could hold, one entry per 4
// bytes. Strings and comments are skipped: hex codes are not counts. A
// refused CMap leaves the font's text undecoded (its bytes, made valid UTF-8).
func checkCMap(cmap pdf.Value) bool {
	if cmap.Kind() != pdf.Stream {
		return true
	}
	data, err := io.ReadAll(io.LimitReader(cmap.Reader(), maxCMapBytes+1))
	if err != nil || len(data) > maxCMapBytes {
		return false
	}
	limit := int64(len(data)/4 + 16)
	for i := 0; i < len(data); {
		switch c := data[i]; {
		case c == '%':
			for i < len(data) && data[i] != '\n' && data[i] != '\r' {
				i++
			}
		case c == '(':
			i = skipLiteralString(data, i)
		case c == '<' && (i+1 >= len(data) || data[i+1] != '<'):
			for i < len(data) && data[i] != '>' {
				i++
			}
		case '0' <= c && c <= '9':
			var v int64
			for ; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
				if v <= limit {
					v = v*10 + int64(data[i]-'0')
				}
			}
			if v > limit {
				return false
			}
			// The rest of the token (a fraction, or a name's tail).
			for i < len(data) && isPDFRegular(data[i]) {
				i++
			}
		case isPDFRegular(c):
			for i < len(data) && isPDFRegular(data[i]) {
				i++
			}
		default:
			i++
		}
	}
	return true
}

// skipLiteralString returns the index after the literal string starting
// at data[i] == '(': parentheses nest, and a backslash escapes one byte.
func skipLiteralString(data []byte, i int) int {
	depth := 0
	for ; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return i
}
