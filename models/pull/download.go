package pull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxAttempts bounds how often one pull resumes an interrupted body.
const maxAttempts = 4

// download fetches url into the partial file at tmp (0600), resuming from
// what is already there with an HTTP Range request, and returns the
// SHA-256 and size of the whole file. The existing prefix is hashed from
// disk, so every byte of the result is hashed, whichever run wrote it.
func (c *Client) download(ctx context.Context, src Source, tmp string, want int64, progress func(done int64), log *slog.Logger) (sum string, size int64, err error) {
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", 0, fmt.Errorf("create partial file: %w", err)
	}
	defer f.Close()
	if err := lockPartial(f); err != nil {
		return "", 0, err
	}
	if err := f.Chmod(0o600); err != nil { // a leftover from another umask
		return "", 0, err
	}
	h := sha256.New()
	done, err := io.Copy(h, f) // hash what an earlier run left
	if err != nil {
		return "", 0, fmt.Errorf("read partial file: %w", err)
	}
	if done > want { // cannot be a prefix of the file we want
		if err := restart(f, h); err != nil {
			return "", 0, err
		}
		done = 0
	}
	if done > 0 {
		log.Info("resuming download", "file", src.Path, "have", done, "size", want)
	}
	u := c.FileURL(src)
	for attempt := 1; done < want; attempt++ {
		if err := ctx.Err(); err != nil {
			return "", 0, err
		}
		n, err := c.fetchRange(ctx, u.String(), f, h, done, want, progress)
		done = n
		if err == nil || done >= want {
			break
		}
		if ctx.Err() != nil || attempt >= maxAttempts || !resumable(err) {
			return "", 0, fmt.Errorf("download %s interrupted after %d of %d bytes (run the same pull again to resume): %w",
				src.Path, done, want, err)
		}
		log.Warn("download interrupted, resuming", "file", src.Path, "have", done, "size", want, "err", err)
	}
	if err := f.Sync(); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), done, nil
}

// fetchRange appends the body from offset from to f and h, returning the
// new length. A server that ignores Range gets the file from the start.
// At most one byte more than want is kept: enough to fail the size check,
// never enough for an endless body to fill the disk.
func (c *Client) fetchRange(ctx context.Context, u string, f *os.File, h hash.Hash, from, want int64, progress func(int64)) (int64, error) {
	parsed, err := c.endpoint.Parse(u)
	if err != nil {
		return from, err
	}
	rng := ""
	if from > 0 {
		rng = "bytes=" + strconv.FormatInt(from, 10) + "-"
	}
	// A body that stops sending is abandoned after c.stall without data
	// and resumed, rather than hanging the pull forever.
	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	resp, err := c.get(reqCtx, parsed, rng)
	if err != nil {
		return from, errNotResumable{err}
	}
	defer resp.Body.Close()
	stalled := fmt.Errorf("no data for %v", c.stall)
	idle := time.AfterFunc(c.stall, func() { cancel(stalled) })
	defer idle.Stop()
	switch {
	case from > 0 && resp.StatusCode == http.StatusOK:
		if err := restart(f, h); err != nil {
			return 0, errNotResumable{err}
		}
		from = 0
	case from > 0 && !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", from)):
		return from, errNotResumable{fmt.Errorf("server answered range %d- with Content-Range %q", from, resp.Header.Get("Content-Range"))}
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return from, errNotResumable{err}
	}
	w := &progressWriter{w: io.MultiWriter(f, h), done: from, progress: progress}
	body := &idleReader{r: contextReader{reqCtx, resp.Body}, timer: idle, after: c.stall}
	_, err = io.Copy(w, io.LimitReader(body, want-from+1))
	if cause := context.Cause(reqCtx); err != nil && errors.Is(cause, stalled) {
		err = cause
	}
	return w.done, err
}

// restart empties the partial file and the hash.
func restart(f *os.File, h hash.Hash) error {
	h.Reset()
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// errNotResumable marks failures that retrying the body cannot fix.
type errNotResumable struct{ error }

func (e errNotResumable) Unwrap() error { return e.error }

func resumable(err error) bool {
	var nr errNotResumable
	return !errors.As(err, &nr)
}

type progressWriter struct {
	w        io.Writer
	done     int64
	progress func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.progress != nil {
		p.progress(p.done)
	}
	return n, err
}

// idleReader pushes its timer back whenever data arrives.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	after time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if n > 0 {
		i.timer.Reset(i.after)
	}
	return n, err
}

// contextReader stops a body read promptly when ctx ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
