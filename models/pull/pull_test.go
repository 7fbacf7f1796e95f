package pull_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/models/pull"
	"github.com/warden-llm/warden/models/pull/pulltest"
	"github.com/warden-llm/warden/models/testmodel"
)

const file = "demo-q8_0.gguf"

var (
	demoOnce sync.Once
	demo     []byte
)

// demoModel is the deterministic demo GGUF, which Warden's model check
// accepts.
func demoModel(t *testing.T) []byte {
	demoOnce.Do(func() {
		var b bytes.Buffer
		if err := testmodel.Write(&b, testmodel.Demo()); err != nil {
			t.Fatal(err)
		}
		demo = b.Bytes()
	})
	return demo
}

// setup starts a fake Hub with the demo model on main, and a client that
// may follow redirects to its CDN.
func setup(t *testing.T) (*pulltest.Hub, *pull.Client, string) {
	hub := pulltest.New(t, "acme", "demo-GGUF")
	commit := hub.Commit("main", file, demoModel(t))
	c, err := pull.NewClient(hub.API.URL, []string{hub.CDN.Listener.Addr().String()}, "")
	if err != nil {
		t.Fatal(err)
	}
	return hub, c, commit
}

func source(t *testing.T, rev string) pull.Source {
	s, err := pull.ParseSource("hf:acme/demo-GGUF/" + file + rev)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// noPartials fails if a download left anything but finished files.
func noPartials(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, ".*partial"))
	if len(left) > 0 {
		t.Errorf("partial files left behind: %v", left)
	}
}

func TestPullFollowsRedirectToCDNAndPins(t *testing.T) {
	_, c, commit := setup(t)
	dir := t.TempDir()
	res, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source.Revision != commit {
		t.Errorf("revision %q, want the commit %s", res.Source.Revision, commit)
	}
	if want := "hf:acme/demo-GGUF/" + file + "@" + commit; res.Source.String() != want {
		t.Errorf("source %s, want %s", res.Source, want)
	}
	got, err := os.ReadFile(res.Path)
	if err != nil || !bytes.Equal(got, demoModel(t)) {
		t.Fatalf("pulled file differs from the served one (err %v)", err)
	}
	info, _ := os.Stat(res.Path)
	if info.Mode().Perm() != 0o440 {
		t.Errorf("mode %v, want 0440", info.Mode().Perm())
	}
	if res.License != "apache-2.0" || res.Header == nil {
		t.Errorf("license %q, header %v", res.License, res.Header)
	}
	noPartials(t, dir)
}

func TestPullRefusesBytesThatDifferFromLFS(t *testing.T) {
	hub, c, _ := setup(t)
	hub.Lie = true
	dir := t.TempDir()
	_, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir})
	if !errors.Is(err, pull.ErrMismatch) || !strings.Contains(err.Error(), "the Hub's LFS metadata says") {
		t.Fatalf("err = %v, want a mismatch naming the Hub's LFS metadata", err)
	}
	if strings.Contains(err.Error(), "lockfile") {
		t.Errorf("err = %v names the lockfile, which pins nothing here", err)
	}
	if _, err := os.Stat(filepath.Join(dir, file)); err == nil {
		t.Error("the mismatching file was placed")
	}
	noPartials(t, dir)
}

func TestPullRefusesWhatTheLockfileDoesNotPin(t *testing.T) {
	hub, c, _ := setup(t)
	pin := &lockfile.Entry{Name: "demo", File: file, SHA256: strings.Repeat("ab", 32), Size: int64(len(demoModel(t)))}
	dir := t.TempDir()
	_, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir, Pinned: pin})
	if !errors.Is(err, pull.ErrMismatch) || !strings.Contains(err.Error(), `the lockfile pins "demo"`) {
		t.Fatalf("err = %v, want a mismatch naming the lockfile", err)
	}
	if len(hub.Ranges) != 0 {
		t.Errorf("downloaded %d times before finding the Hub and the lockfile disagree", len(hub.Ranges))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v in the models folder", entries)
	}
}

func TestPullResumesTruncatedDownload(t *testing.T) {
	hub, c, _ := setup(t)
	hub.Truncate = 1
	dir := t.TempDir()
	res, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	half := len(demoModel(t)) / 2
	if want := []string{"", "bytes=" + itoa(half) + "-"}; !slices.Equal(hub.Ranges, want) {
		t.Errorf("CDN saw ranges %q, want %q", hub.Ranges, want)
	}
	if got, _ := os.ReadFile(res.Path); !bytes.Equal(got, demoModel(t)) {
		t.Error("resumed file differs from the served one")
	}
	noPartials(t, dir)
}

// A pull that gives up keeps the partial file; the next run resumes it
// and hashes all of it, so a corrupt prefix is caught.
func TestPullResumesAcrossRunsAndRehashes(t *testing.T) {
	hub, c, _ := setup(t)
	hub.Truncate = 100
	dir := t.TempDir()
	_, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir})
	if err == nil || !strings.Contains(err.Error(), "run the same pull again to resume") {
		t.Fatalf("err = %v, want an interrupted download", err)
	}
	partials, _ := filepath.Glob(filepath.Join(dir, ".*partial"))
	if len(partials) != 1 {
		t.Fatalf("partials %v, want one", partials)
	}
	// Corrupt the kept prefix: the resumed download must not be accepted.
	data, _ := os.ReadFile(partials[0])
	data[10] ^= 0xff
	if err := os.WriteFile(partials[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	hub.Truncate = 0
	_, err = c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir})
	if !errors.Is(err, pull.ErrMismatch) {
		t.Fatalf("err = %v, want a mismatch from the corrupt prefix", err)
	}
	if last := hub.Ranges[len(hub.Ranges)-1]; !strings.HasPrefix(last, "bytes=") {
		t.Errorf("second run asked for %q, want a Range request", last)
	}
	noPartials(t, dir)
	// A clean third run succeeds from scratch.
	if _, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir}); err != nil {
		t.Fatal(err)
	}
}

func TestPullRefusesRedirectToUnlistedHost(t *testing.T) {
	hub, c, _ := setup(t)
	hub.RedirectTo = "http://localhost:" + port(hub.CDN.URL) // same server, a name not on the list
	dir := t.TempDir()
	_, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir})
	if err == nil || !strings.Contains(err.Error(), "not an allowed download host") {
		t.Fatalf("err = %v, want a refused redirect", err)
	}
	if len(hub.Ranges) != 0 {
		t.Error("the refused host was contacted")
	}
}

func TestPullGatedRepository(t *testing.T) {
	hub, _, _ := setup(t)
	hub.Token = "hf_secret"
	dir := t.TempDir()
	anon, _ := pull.NewClient(hub.API.URL, []string{hub.CDN.Listener.Addr().String()}, "")
	_, err := anon.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Fatalf("err = %v, want a 401 that says to set HF_TOKEN", err)
	}
	withToken, _ := pull.NewClient(hub.API.URL, []string{hub.CDN.Listener.Addr().String()}, "hf_secret")
	if _, err := withToken.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir}); err != nil {
		t.Fatal(err)
	}
	for _, a := range hub.Auth {
		if a != "" {
			t.Errorf("the token was sent to the CDN: %q", a)
		}
	}
}

func TestPullReportsProgressOfSlowBody(t *testing.T) {
	hub, c, _ := setup(t)
	hub.Slow = time.Millisecond
	var total int64
	var seen []int64
	_, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: t.TempDir(),
		Progress: func(n int64) func(int64) {
			total = n
			return func(done int64) { seen = append(seen, done) }
		}})
	if err != nil {
		t.Fatal(err)
	}
	if total != int64(len(demoModel(t))) || len(seen) < 10 || seen[len(seen)-1] != total || !slices.IsSorted(seen) {
		t.Errorf("progress total %d, %d updates ending at %v; want many rising updates ending at the size", total, len(seen), seen[len(seen)-1:])
	}
}

func TestPullStopsWithContext(t *testing.T) {
	hub, c, _ := setup(t)
	hub.Slow = 10 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Pull(ctx, pull.Request{Source: source(t, ""), ModelsDir: t.TempDir()})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v, want the deadline promptly", err, time.Since(start))
	}
}

func TestNoNetworkIsExplained(t *testing.T) {
	hub, _, _ := setup(t)
	url := hub.API.URL
	hub.API.Close()
	c, _ := pull.NewClient(url, nil, "")
	_, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "cannot reach the Hub") {
		t.Fatalf("err = %v, want a no-network message", err)
	}
}

func TestClientRequiresHTTPSBeyondLoopback(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://huggingface.co": true, "http://127.0.0.1:9": true, "http://localhost:9": true, "http://[::1]:9": true,
		"http://huggingface.co": false, "http://10.0.0.1": false, "ftp://x": false, "https://": false,
	} {
		if _, err := pull.NewClient(url, nil, ""); (err == nil) != ok {
			t.Errorf("NewClient(%q) err = %v", url, err)
		}
	}
}

func TestParseSource(t *testing.T) {
	s, err := pull.ParseSource("hf:Qwen/Qwen2.5-GGUF/sub/q4.gguf@v1.0")
	if err != nil || s.Org != "Qwen" || s.Repo != "Qwen2.5-GGUF" || s.Path != "sub/q4.gguf" || s.Revision != "v1.0" || s.File() != "q4.gguf" {
		t.Fatalf("%+v, %v", s, err)
	}
	for _, bad := range []string{"Qwen/R/m.gguf", "hf:Qwen/R", "hf:Qwen/R/../m.gguf", "hf:Qwen/R/m.bin", "hf:Qwen/R/m.gguf@", "hf:Qwen/R//m.gguf", "hf:../R/m.gguf"} {
		if _, err := pull.ParseSource(bad); err == nil {
			t.Errorf("ParseSource(%q) accepted", bad)
		}
	}
}

func TestAllowed(t *testing.T) {
	s := source(t, "")
	if err := s.Allowed(nil); err == nil || !strings.Contains(err.Error(), "list is empty") {
		t.Errorf("empty list: %v", err)
	}
	if err := s.Allowed([]string{"hf:Qwen/*"}); err == nil || !strings.Contains(err.Error(), "hf:Qwen/*") {
		t.Errorf("other publisher: %v", err)
	}
	if err := s.Allowed([]string{"hf:Qwen/*", "hf:acme/*"}); err != nil {
		t.Errorf("listed publisher: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func port(url string) string { return url[strings.LastIndexByte(url, ':')+1:] }

// Two pulls of one file never write into the same partial file at once.
func TestPullRefusesConcurrentDownloadOfSameFile(t *testing.T) {
	hub, c, _ := setup(t)
	hub.Slow = 5 * time.Millisecond
	dir := t.TempDir()
	first := make(chan error, 1)
	started := make(chan struct{})
	var once sync.Once
	go func() {
		_, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir,
			Progress: func(int64) func(int64) { return func(int64) { once.Do(func() { close(started) }) } }})
		first <- err
	}()
	<-started
	_, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir})
	if err == nil || !strings.Contains(err.Error(), "another pull is downloading") {
		t.Errorf("second pull: err = %v, want a refusal while the first runs", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first pull: %v", err)
	}
}

// A file the Hub pins correctly is still refused if Warden's GGUF model
// check rejects it.
func TestPullRefusesFileTheModelCheckRejects(t *testing.T) {
	hub, c, _ := setup(t)
	junk := bytes.Repeat([]byte("not a model "), 1000)
	hub.Commit("main", file, junk)
	dir := t.TempDir()
	_, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir})
	if err == nil || !strings.Contains(err.Error(), "not a model Warden can load") {
		t.Fatalf("err = %v, want the model check's refusal", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v in the models folder", entries)
	}
}

// A CDN that sends more than the advertised size is cut off one byte past
// it, and the download refused: an endless body cannot fill the disk.
func TestPullRefusesOversizedBody(t *testing.T) {
	hub, c, _ := setup(t)
	hub.Pad = 10 << 20
	dir := t.TempDir()
	_, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: dir})
	want := "has sha256 "
	if !errors.Is(err, pull.ErrMismatch) || !strings.Contains(err.Error(), want) ||
		!strings.Contains(err.Error(), strconv.Itoa(len(demoModel(t))+1)+" bytes, but") {
		t.Fatalf("err = %v, want a size mismatch at advertised size + 1", err)
	}
	noPartials(t, dir)
}

// A body that stops sending is abandoned, resumed, and finally reported,
// rather than hanging the pull.
func TestPullGivesUpOnStalledBody(t *testing.T) {
	hub, c, _ := setup(t)
	hub.Slow = 300 * time.Millisecond
	c.SetStallTimeout(50 * time.Millisecond)
	_, err := c.Pull(context.Background(), pull.Request{Source: source(t, ""), ModelsDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no data for 50ms") || !strings.Contains(err.Error(), "run the same pull again") {
		t.Fatalf("err = %v, want a stalled download", err)
	}
	if len(hub.Ranges) < 2 || !strings.HasPrefix(hub.Ranges[1], "bytes=") {
		t.Errorf("ranges %q, want resumes after the stall", hub.Ranges)
	}
}

// A branch whose name holds a slash, as the Hub's pull-request refs do, is
// sent as one escaped path segment and resolves like any other.
func TestPullRevisionWithSlash(t *testing.T) {
	hub, c, _ := setup(t)
	commit := hub.Commit("refs/pr/1", file, demoModel(t))
	res, err := c.Pull(context.Background(), pull.Request{Source: source(t, "@refs/pr/1"), ModelsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source.Revision != commit {
		t.Errorf("revision %q, want the commit of refs/pr/1, %s", res.Source.Revision, commit)
	}
}
