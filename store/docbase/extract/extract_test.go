package extract

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type textCase struct {
	name        string
	filename    string
	contentType string
	data        string
	lim         Limits
	want        string // exact text, when wantErr is nil
	wantFormat  string
	contains    []string // substrings the text (or error message) must hold
	excludes    []string // substrings it must not hold
	wantErr     error
}

var textCases = []textCase{
	// Plain text and Markdown.
	{name: "txt", filename: "notes.txt", data: "hello\nworld\n", want: "hello\nworld\n", wantFormat: FormatText},
	{name: "log by type", filename: "x.log", contentType: "text/plain; charset=utf-8", data: "a b", want: "a b", wantFormat: FormatText},
	{name: "bom stripped", filename: "a.text", data: "\uFEFFhé", want: "hé", wantFormat: FormatText},
	{name: "markdown kept", filename: "README.md", data: "# Title\n\n*x* `y`", want: "# Title\n\n*x* `y`", wantFormat: FormatMarkdown},
	{name: "markdown as text/plain", filename: "a.markdown", contentType: "text/plain", data: "# T", want: "# T", wantFormat: FormatMarkdown},
	{name: "type only", filename: "upload", contentType: "text/markdown", data: "# T", want: "# T", wantFormat: FormatMarkdown},
	{name: "octet-stream is no type", filename: "a.txt", contentType: "application/octet-stream", data: "x", want: "x", wantFormat: FormatText},
	{name: "uppercase ext", filename: "A.TXT", data: "x", want: "x", wantFormat: FormatText},

	// HTML.
	{name: "html", filename: "p.html", wantFormat: FormatHTML,
		data: `<!doctype html><html><head><title>Secret title</title><style>p{color:red}</style></head>
<body><h1>Head&amp;line</h1><p>One   two
three</p><script>alert(1)</script><noscript>enable js</noscript><template><p>tpl</p></template>
<ul><li>caf&eacute; &lt;b&gt;</li><li>x&#x41;&nbsp;y</li></ul><p>a<b>b</b> c<br>d</p></body></html>`,
		want: "Head&line\nOne two three\ncafé <b>\nxA y\nab c\nd"},
	{name: "html unclosed head", filename: "p.htm", data: "<head><title>t</title><body><p>shown</p>", want: "shown", wantFormat: FormatHTML},
	{name: "html script text not shown", filename: "p.html", data: "<p>x</p><script>document.write('<p>y</p>')</script><p>z</p>", want: "x\nz", wantFormat: FormatHTML, excludes: []string{"alert", "document", "y"}},

	// JSON.
	{name: "json nested", filename: "d.json", wantFormat: FormatJSON,
		data: `{"name":"Ada","tags":["x",{"k":1.5}],"ok":true,"none":null,"deep":{"a":{"b":"c"}}}`,
		want: "name: Ada\ntags[0]: x\ntags[1].k: 1.5\nok: true\ndeep.a.b: c"},
	{name: "json scalar", filename: "d.json", data: `"just a string"`, want: "just a string", wantFormat: FormatJSON},
	{name: "json by type", filename: "blob", contentType: "application/json", data: `[1,2]`, want: "[0]: 1\n[1]: 2", wantFormat: FormatJSON},
	{name: "json invalid", filename: "d.json", data: `{"a":}`, wantErr: ErrInvalid},
	{name: "json truncated", filename: "d.json", data: `{"a":[1,2`, wantErr: ErrInvalid},
	{name: "json empty", filename: "d.json", data: ``, wantErr: ErrInvalid},
	{name: "json two values", filename: "d.json", data: `{} {}`, wantErr: ErrInvalid},
	{name: "json too deep", filename: "d.json", data: strings.Repeat("[", 65) + strings.Repeat("]", 65), wantErr: ErrTooLarge},
	{name: "json depth at limit", filename: "d.json", data: strings.Repeat("[", 3) + "1" + strings.Repeat("]", 3), lim: Limits{MaxJSONDepth: 3}, want: "[0][0][0]: 1", wantFormat: FormatJSON},
	{name: "json expansion bounded", filename: "d.json", lim: Limits{MaxTextBytes: 100},
		data: `{"` + strings.Repeat("k", 60) + `":[1,2,3]}`, wantErr: ErrTooLarge},

	// CSV.
	{name: "csv quotes", filename: "t.csv", wantFormat: FormatCSV,
		data: "name,quote,n\nAda,\"said \"\"hi\"\", then\nleft\",1\nBob,,2,extra\n",
		want: "name: Ada\nquote: said \"hi\", then left\nn: 1\n\nname: Bob\nn: 2\ncolumn 4: extra"},
	{name: "csv header only", filename: "t.csv", data: "a,b\n", want: "a, b", wantFormat: FormatCSV},
	{name: "csv bare quote", filename: "t.csv", data: "a,b\nx\"y,1\n", wantErr: ErrInvalid, contains: []string{"line 2"}},
	{name: "csv as text/plain", filename: "t.csv", contentType: "text/plain", data: "a\n1\n", want: "a: 1", wantFormat: FormatCSV},

	// Mislabelled types.
	{name: "pdf ext with text bytes", filename: "r.pdf", data: "hello", wantErr: ErrInvalid, contains: []string{"%PDF-"}},
	{name: "pdf type for txt", filename: "r.txt", contentType: "application/pdf", data: "hello", wantErr: ErrInvalid, contains: []string{".txt", "application/pdf"}},
	{name: "pdf bytes named txt", filename: "r.txt", data: "%PDF-1.4\n...", wantErr: ErrInvalid, contains: []string{"PDF"}},
	{name: "html type for json", filename: "r.json", contentType: "text/html", data: "{}", wantErr: ErrInvalid},
	{name: "binary as text", filename: "img.txt", data: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", wantErr: ErrInvalid, contains: []string{"NUL"}},
	{name: "nul in csv", filename: "t.csv", data: "a\x00,b", wantErr: ErrInvalid},
	{name: "latin-1", filename: "t.txt", data: "caf\xe9", wantErr: ErrInvalid, contains: []string{"UTF-8"}},
	{name: "non-utf8 html", filename: "t.html", data: "<p>\xff</p>", wantErr: ErrInvalid},
	{name: "declared latin-1", filename: "t.txt", contentType: "text/plain; charset=iso-8859-1", data: "x", wantErr: ErrUnsupported},
	{name: "malformed content type", filename: "t.txt", contentType: "text/plain/x;;", data: "x", wantErr: ErrInvalid},

	// Unsupported.
	{name: "docx", filename: "report.docx", data: "PK\x03\x04", wantErr: ErrUnsupported, contains: []string{".docx", ".pdf"}, excludes: []string{"report"}},
	{name: "png", filename: "photo.png", contentType: "image/png", data: "\x89PNG", wantErr: ErrUnsupported, contains: []string{".png"}},
	{name: "unknown ext no type", filename: "data.xyz", data: "x", wantErr: ErrUnsupported},
	{name: "no ext no type", filename: "README", data: "x", wantErr: ErrUnsupported},
	{name: "no ext octet-stream", filename: "", contentType: "application/octet-stream", data: "x", wantErr: ErrUnsupported},

	// Filenames are only their extension.
	{name: "path traversal name", filename: "../../etc/passwd.txt", data: "ok", want: "ok", wantFormat: FormatText},
	{name: "nul in name", filename: "a\x00b.txt", data: "ok", want: "ok", wantFormat: FormatText},
	{name: "windows path", filename: `C:\Users\jane.doe\cv.md`, data: "ok", want: "ok", wantFormat: FormatMarkdown},
	{name: "personal name not echoed", filename: "Jane Doe medical record.docx", data: "x", wantErr: ErrUnsupported, excludes: []string{"Jane", "medical"}},
	{name: "crafted ext not echoed", filename: "x.jane-doe-123-45-6789", data: "x", wantErr: ErrUnsupported, excludes: []string{"jane", "6789"}},
	{name: "dir-like name", filename: "dir.txt/", data: "x", wantErr: ErrUnsupported},

	// Size limits.
	{name: "text too large", filename: "a.txt", data: "12345", lim: Limits{MaxTextBytes: 4}, wantErr: ErrTooLarge},
	{name: "text at limit", filename: "a.txt", data: "1234", lim: Limits{MaxTextBytes: 4}, want: "1234", wantFormat: FormatText},
	{name: "html too large", filename: "a.html", data: "<p>" + strings.Repeat("word ", 40) + "</p>", lim: Limits{MaxTextBytes: 50}, wantErr: ErrTooLarge},
	{name: "csv too large", filename: "a.csv", data: "h\n" + strings.Repeat("value\n", 20), lim: Limits{MaxTextBytes: 50}, wantErr: ErrTooLarge},
}

func TestText(t *testing.T) {
	for _, tc := range textCases {
		t.Run(tc.name, func(t *testing.T) { checkCase(t, tc) })
	}
}

func checkCase(t *testing.T, tc textCase) {
	t.Helper()
	doc, err := Text(context.Background(), tc.filename, tc.contentType, []byte(tc.data), tc.lim)
	got := doc.Text
	if tc.wantErr != nil {
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("err = %v, want %v", err, tc.wantErr)
		}
		got = err.Error()
	} else {
		if err != nil {
			t.Fatalf("err = %v", err)
		}
		if doc.Format != tc.wantFormat {
			t.Errorf("format = %q, want %q", doc.Format, tc.wantFormat)
		}
		if got != tc.want {
			t.Errorf("text = %q\nwant   %q", got, tc.want)
		}
	}
	for _, s := range tc.contains {
		if !strings.Contains(got, s) {
			t.Errorf("%q does not contain %q", got, s)
		}
	}
	for _, s := range tc.excludes {
		if strings.Contains(got, s) {
			t.Errorf("%q contains %q", got, s)
		}
	}
}

func TestDefaultLimits(t *testing.T) {
	big := strings.Repeat("x", DefaultMaxTextBytes+1)
	if _, err := Text(context.Background(), "a.txt", "", []byte(big), Limits{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge at the default limit", err)
	}
	if _, err := Text(context.Background(), "a.txt", "", []byte(big[1:]), Limits{}); err != nil {
		t.Fatalf("at the default limit: %v", err)
	}
}
