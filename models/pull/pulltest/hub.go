// Package pulltest is a fake Hugging Face Hub on loopback for tests: the
// model info API, resolve URLs that redirect to a second "CDN" server,
// and the faults a pull must survive or refuse.
package pulltest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hub serves one repository, Org/Repo.
type Hub struct {
	Org, Repo string
	API       *httptest.Server // the Hub: /api/models/... and /{org}/{repo}/resolve/...
	CDN       *httptest.Server // where resolve redirects to

	mu       sync.Mutex
	branches map[string]string            // branch: commit
	files    map[string]map[string][]byte // commit: path: content
	blobs    map[string][]byte            // sha256: content

	// Faults, set by the test.
	Token      string        // if set, the API and resolve answer 401 without it
	Lie        bool          // the CDN serves bytes other than the advertised ones
	Pad        int           // the CDN appends this many bytes to the file
	Truncate   int           // the next Truncate file responses stop half-way
	RedirectTo string        // base URL resolve redirects to; default the CDN
	Slow       time.Duration // pause between 4 KiB chunks of a file
	License    string        // cardData.license

	Ranges []string // the Range header of every CDN request
	Auth   []string // the Authorization header of every CDN request
}

// New starts the Hub and its CDN; both stop when the test ends.
func New(t testing.TB, org, repo string) *Hub {
	h := &Hub{Org: org, Repo: repo, branches: map[string]string{}, files: map[string]map[string][]byte{}, blobs: map[string][]byte{}, License: "apache-2.0"}
	h.API = httptest.NewServer(http.HandlerFunc(h.serveAPI))
	h.CDN = httptest.NewServer(http.HandlerFunc(h.serveCDN))
	t.Cleanup(h.API.Close)
	t.Cleanup(h.CDN.Close)
	return h
}

// Commit records a commit on branch holding path with data, and moves the
// branch to it. It returns the commit hash.
func (h *Hub) Commit(branch, path string, data []byte) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := sha1.Sum(append([]byte(fmt.Sprint(len(h.files), branch, path)), data...))
	commit := hex.EncodeToString(s[:])
	h.files[commit] = map[string][]byte{path: data}
	d := sha256.Sum256(data)
	h.blobs[hex.EncodeToString(d[:])] = data
	h.branches[branch] = commit
	return commit
}

func (h *Hub) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.Token != "" && r.Header.Get("Authorization") != "Bearer "+h.Token {
		http.Error(w, "Access to model is restricted", http.StatusUnauthorized)
		return false
	}
	return true
}

// resolve maps a branch or commit to a commit.
func (h *Hub) resolve(rev string) (string, bool) {
	if c, ok := h.branches[rev]; ok {
		return c, true
	}
	_, ok := h.files[rev]
	return rev, ok
}

func (h *Hub) serveAPI(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.authorized(w, r) {
		return
	}
	repo := "/" + h.Org + "/" + h.Repo
	// As the Hub does, the revision is one path segment: a branch such as
	// refs/pr/1 must come escaped (refs%2Fpr%2F1).
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/models"+repo+"/revision/"); ok {
		rev, err := url.PathUnescape(rest)
		if err != nil || strings.Contains(rest, "/") {
			http.NotFound(w, r)
			return
		}
		commit, ok := h.resolve(rev)
		if !ok {
			http.NotFound(w, r)
			return
		}
		type lfs struct {
			SHA256 string `json:"sha256"`
			Size   int64  `json:"size"`
		}
		type sibling struct {
			RFilename string `json:"rfilename"`
			Size      int64  `json:"size"`
			LFS       lfs    `json:"lfs"`
		}
		info := map[string]any{"id": h.Org + "/" + h.Repo, "sha": commit, "cardData": map[string]any{"license": h.License}}
		var sib []sibling
		for p, data := range h.files[commit] {
			d := sha256.Sum256(data)
			sib = append(sib, sibling{p, int64(len(data)), lfs{hex.EncodeToString(d[:]), int64(len(data))}})
		}
		info["siblings"] = sib
		json.NewEncoder(w).Encode(info)
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, repo+"/resolve/"); ok {
		rev, path, _ := strings.Cut(rest, "/")
		commit, ok := h.resolve(rev)
		data, found := h.files[commit][path]
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		d := sha256.Sum256(data)
		base := h.RedirectTo
		if base == "" {
			base = h.CDN.URL
		}
		http.Redirect(w, r, base+"/blobs/"+hex.EncodeToString(d[:]), http.StatusFound)
		return
	}
	http.NotFound(w, r)
}

func (h *Hub) serveCDN(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	data, ok := h.blobs[strings.TrimPrefix(r.URL.Path, "/blobs/")]
	h.Ranges = append(h.Ranges, r.Header.Get("Range"))
	h.Auth = append(h.Auth, r.Header.Get("Authorization"))
	lie, slow, pad := h.Lie, h.Slow, h.Pad
	truncate := h.Truncate > 0
	if truncate {
		h.Truncate--
	}
	h.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if lie {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 0xff
	}
	if pad > 0 {
		data = append(bytes.Clone(data), make([]byte, pad)...)
	}
	if truncate { // promise the whole file, send half, hang up
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		return
	}
	if slow > 0 {
		w = &slowWriter{ResponseWriter: w, pause: slow}
	}
	http.ServeContent(w, r, "model.gguf", time.Time{}, bytes.NewReader(data))
}

// slowWriter sends a body in small pieces with pauses.
type slowWriter struct {
	http.ResponseWriter
	pause time.Duration
}

func (s *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 4096)
		m, err := s.ResponseWriter.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(s.pause)
		p = p[k:]
	}
	return n, nil
}
