package server

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/store/docbase"
	"github.com/warden-llm/warden/store/docbase/extract"
)

// fileObject is OpenAI's file object.
type fileObject struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Bytes         int64   `json:"bytes"`
	CreatedAt     int64   `json:"created_at"`
	ExpiresAt     *int64  `json:"expires_at"`
	Filename      string  `json:"filename"`
	Purpose       string  `json:"purpose"`
	Status        string  `json:"status"`
	StatusDetails *string `json:"status_details"`
}

func fileJSON(f docbase.File) fileObject {
	return fileObject{ID: f.ID, Object: "file", Bytes: f.Bytes, CreatedAt: f.CreatedAt,
		Filename: f.Filename, Purpose: f.Purpose, Status: "processed"}
}

// maxFormFieldBytes bounds a multipart field other than the file.
const maxFormFieldBytes = 1 << 10

// uploadSlack is what a multipart body may hold beside the file itself:
// boundaries, part headers and the purpose field.
const uploadSlack = 64 << 10

// createFile serves POST /v1/files: a multipart upload, read as a stream
// so that an oversized file is refused when it passes the limit, never
// held whole. The text is extracted before anything is stored, so that an
// unsupported or malformed document is a 400 now rather than a failed
// indexing later.
func (s *Server) createFile(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	limit := s.maxUploadBytes()
	r := c.Request()
	if r.ContentLength > limit+uploadSlack {
		return uploadTooLarge(limit)
	}
	r.Body = http.MaxBytesReader(c.Response(), r.Body, limit+uploadSlack)
	up, err := readUpload(r, limit)
	if err != nil {
		return err
	}
	doc, err := extract.Text(r.Context(), up.filename, up.contentType, up.data, extract.Limits{})
	if err != nil {
		return extractError(err)
	}
	f, err := db.CreateFile(r.Context(), comp, up.filename, up.purpose, extract.MediaType(doc.Format), up.data)
	if err != nil {
		return docError(err, "file", "")
	}
	x := exchangeOf(c)
	x.action = "file.upload"
	x.detail = fmt.Sprintf("file=%s bytes=%d format=%s sha256=%s compartment=%s", f.ID, f.Bytes, doc.Format, f.SHA256, comp)
	return c.JSON(http.StatusOK, fileJSON(f))
}

func (s *Server) maxUploadBytes() int64 {
	if n := s.cfg.Docs.MaxUploadBytes; n > 0 {
		return n
	}
	return DefaultMaxUploadBytes
}

func uploadTooLarge(limit int64) *apiError {
	return requestError(http.StatusRequestEntityTooLarge, "file_too_large",
		fmt.Sprintf("the file is larger than this server's limit of %d bytes", limit))
}

// upload is a multipart upload's fields.
type upload struct {
	filename, contentType, purpose string
	data                           []byte
}

// readUpload reads the multipart fields purpose and file, in any order.
func readUpload(r *http.Request, limit int64) (upload, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return upload{}, requestError(http.StatusBadRequest, "invalid_request",
			"POST /v1/files takes a multipart/form-data body with the fields file and purpose")
	}
	var up upload
	var haveFile bool
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return upload{}, bodyError(err, limit)
		}
		switch part.FormName() {
		case "purpose":
			v, err := io.ReadAll(io.LimitReader(part, maxFormFieldBytes))
			if err != nil {
				return upload{}, bodyError(err, limit)
			}
			up.purpose = string(v)
		case "file":
			if haveFile {
				return upload{}, invalidParam("file", "send one file per upload")
			}
			haveFile = true
			if up.filename, err = partFilename(part); err != nil {
				return upload{}, err
			}
			up.contentType = part.Header.Get("Content-Type")
			var buf bytes.Buffer
			n, err := io.Copy(&buf, io.LimitReader(part, limit+1))
			if err != nil {
				return upload{}, bodyError(err, limit)
			}
			if n > limit {
				return upload{}, uploadTooLarge(limit)
			}
			up.data = buf.Bytes()
		}
		part.Close()
	}
	switch {
	case !haveFile:
		return upload{}, invalidParam("file", "the upload has no file field")
	case up.purpose != docbase.PurposeAssistants && up.purpose != docbase.PurposeUserData:
		return upload{}, invalidParam("purpose", "purpose must be assistants or user_data")
	}
	return up, nil
}

// partFilename is the filename parameter of the part's
// Content-Disposition exactly as sent: mime/multipart's FileName would
// strip directories, and the name is opaque metadata here, never a path.
func partFilename(p *multipart.Part) (string, error) {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	name := params["filename"]
	switch {
	case err != nil || name == "":
		return "", invalidParam("file", "the file part needs a filename")
	case !utf8.ValidString(name):
		return "", invalidParam("file", "the filename is not valid UTF-8")
	}
	return name, nil
}

// bodyError is the answer for a body that could not be read: 413 when it
// passed the size limit.
func bodyError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return uploadTooLarge(limit)
	}
	return requestError(http.StatusBadRequest, "invalid_request", "could not read the multipart body")
}

// extractError maps an extraction failure to 400 (or 413), with
// extraction's own message, which never quotes the document.
func extractError(err error) error {
	switch {
	case errors.Is(err, extract.ErrTooLarge):
		return requestError(http.StatusRequestEntityTooLarge, "file_too_large", err.Error()).withParam("file")
	case errors.Is(err, extract.ErrUnsupported):
		return requestError(http.StatusBadRequest, "unsupported_file", err.Error()).withParam("file")
	case errors.Is(err, extract.ErrInvalid):
		return requestError(http.StatusBadRequest, "invalid_file", err.Error()).withParam("file")
	}
	return err
}

// listFiles serves GET /v1/files.
func (s *Server) listFiles(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	p, err := listParams(c)
	if err != nil {
		return err
	}
	page, err := db.ListFiles(c.Request().Context(), comp, c.QueryParam("purpose"), p)
	if err != nil {
		return docError(err, "file", cursorOf(p))
	}
	return c.JSON(http.StatusOK, listJSON(page, fileJSON))
}

// getFile serves GET /v1/files/{id}.
func (s *Server) getFile(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	f, err := db.GetFile(c.Request().Context(), comp, id)
	if err != nil {
		return docError(err, "file", id)
	}
	return c.JSON(http.StatusOK, fileJSON(f))
}

// fileContent serves GET /v1/files/{id}/content: the bytes as uploaded,
// never rendered (a stored HTML file must not run in a browser).
func (s *Server) fileContent(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	data, err := db.FileContent(c.Request().Context(), comp, id)
	if err != nil {
		return docError(err, "file", id)
	}
	exchangeOf(c).action, exchangeOf(c).detail = "file.content", "file="+id
	h := c.Response().Header()
	h.Set("Content-Disposition", "attachment")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	return c.Blob(http.StatusOK, "application/octet-stream", data)
}

// deleteFile serves DELETE /v1/files/{id}: the file, and its chunks in
// every store it was attached to.
func (s *Server) deleteFile(c echo.Context) error {
	db, comp, err := s.docScope(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if err := db.DeleteFile(c.Request().Context(), comp, id); err != nil {
		return docError(err, "file", id)
	}
	exchangeOf(c).action, exchangeOf(c).detail = "file.delete", "file="+id
	return c.JSON(http.StatusOK, map[string]any{"id": id, "object": "file", "deleted": true})
}

// listObject is OpenAI's cursor-paginated list.
type listObject[T any] struct {
	Object  string  `json:"object"`
	Data    []T     `json:"data"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
	HasMore bool    `json:"has_more"`
}

func listJSON[T, J any](p docbase.Page[T], conv func(T) J) listObject[J] {
	out := listObject[J]{Object: "list", Data: make([]J, 0, len(p.Data)), HasMore: p.HasMore}
	for _, v := range p.Data {
		out.Data = append(out.Data, conv(v))
	}
	if p.FirstID != "" {
		out.FirstID, out.LastID = &p.FirstID, &p.LastID
	}
	return out
}

// cursorOf is the id a list's cursor names: a cursor of another
// compartment is not found, exactly as a missing one.
func cursorOf(p docbase.ListParams) string { return cmp.Or(p.After, p.Before) }

// listParams reads OpenAI's limit, after, before and order.
func listParams(c echo.Context) (docbase.ListParams, error) {
	p := docbase.ListParams{After: c.QueryParam("after"), Before: c.QueryParam("before"), Order: c.QueryParam("order")}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return p, invalidParam("limit", "limit must be an integer from 1 to 100")
		}
		p.Limit = n
	}
	if p.Order != "" && p.Order != "asc" && p.Order != "desc" {
		return p, invalidParam("order", "order must be asc or desc")
	}
	return p, nil
}
