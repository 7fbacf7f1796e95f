package pull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DefaultEndpoint is the public Hugging Face Hub.
const DefaultEndpoint = "https://huggingface.co"

// DefaultHosts are the hosts huggingface.co redirects file downloads to
// (its LFS and Xet CDNs), as patterns for path.Match against the host
// name. Another Hub gets only its own host unless configured.
var DefaultHosts = []string{"huggingface.co", "*.huggingface.co", "hf.co", "*.hf.co"}

// Endpoint picks the Hub URL: the configured one, else HF_ENDPOINT as the
// Hugging Face tools read it, else the public Hub.
func Endpoint(configured string) string {
	if configured != "" {
		return configured
	}
	if e := os.Getenv("HF_ENDPOINT"); e != "" {
		return e
	}
	return DefaultEndpoint
}

// Token finds a Hub access token for gated repositories the way the
// Hugging Face tools do: HF_TOKEN, else the file HF_TOKEN_PATH names,
// else $HF_HOME/token (default ~/.cache/huggingface/token). It returns ""
// when there is none.
func Token() string {
	if t := strings.TrimSpace(os.Getenv("HF_TOKEN")); t != "" {
		return t
	}
	p := os.Getenv("HF_TOKEN_PATH")
	if p == "" {
		home := os.Getenv("HF_HOME")
		if home == "" {
			if cache, err := os.UserCacheDir(); err == nil {
				home = filepath.Join(cache, "huggingface")
			}
		}
		if home != "" {
			p = filepath.Join(home, "token")
		}
	}
	if p == "" {
		return ""
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// Client talks to one Hub.
type Client struct {
	endpoint *url.URL
	hosts    []string // where redirects may lead, besides the endpoint
	token    string   // sent to the endpoint's host only
	stall    time.Duration
	http     *http.Client
}

// NewClient checks the endpoint (HTTPS unless loopback) and builds a
// client whose redirects go only to the endpoint's host and hosts. A
// pattern with a port ("127.0.0.1:8443") matches host and port; one
// without matches the host name on any port.
func NewClient(endpoint string, hosts []string, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(endpoint, "/"))
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("hub URL %q: want https://HOST[/PATH]", endpoint)
	}
	if err := secureScheme(u); err != nil {
		return nil, fmt.Errorf("hub URL %q: %w", endpoint, err)
	}
	c := &Client{endpoint: u, hosts: hosts, token: token, stall: DefaultStallTimeout}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout}).DialContext
	tr.ResponseHeaderTimeout = headerTimeout
	c.http = &http.Client{
		Transport:     tr,
		CheckRedirect: c.checkRedirect,
	}
	return c, nil
}

// secureScheme refuses plain HTTP except to loopback, where a test or a
// local mirror listens and nothing crosses a network.
func secureScheme(u *url.URL) error {
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("plain http is allowed for loopback addresses only; use https")
	}
	return fmt.Errorf("scheme %q: want https", u.Scheme)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkRedirect follows a redirect only to the Hub itself or an allowed
// host, over HTTPS (or loopback), and never carries the token away from
// the Hub.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("more than 10 redirects")
	}
	if !c.allowedHost(req.URL) {
		return fmt.Errorf("the Hub redirected to %s, which is not an allowed download host (%s); add it to models.hub_hosts if you trust it",
			req.URL.Host, strings.Join(append([]string{c.endpoint.Host}, c.hosts...), ", "))
	}
	if err := secureScheme(req.URL); err != nil {
		return fmt.Errorf("redirect to %s: %w", req.URL.Redacted(), err)
	}
	if req.URL.Host != c.endpoint.Host {
		req.Header.Del("Authorization")
	}
	return nil
}

func (c *Client) allowedHost(u *url.URL) bool {
	if u.Host == c.endpoint.Host {
		return true
	}
	for _, p := range c.hosts {
		target := u.Hostname()
		if strings.Contains(p, ":") {
			target = u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err == nil && ok {
			return true
		}
	}
	return false
}

// DefaultStallTimeout is how long a download may receive nothing before it
// is abandoned and resumed.
const DefaultStallTimeout = time.Minute

// SetStallTimeout changes how long a download may receive nothing.
func (c *Client) SetStallTimeout(d time.Duration) { c.stall = d }

// Info is what the Hub says about a repository at a revision.
type Info struct {
	Commit  string // the revision's 40-hex commit hash
	License string // from the model card's metadata, as written there
	SHA256  string // of the file, from its LFS pointer
	Size    int64
}

// modelInfo is the subset of GET /api/models/{repo}/revision/{rev}?blobs=true
// that a pull needs.
type modelInfo struct {
	SHA      string `json:"sha"`
	CardData struct {
		License any `json:"license"` // a string, or a list on some cards
	} `json:"cardData"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
		Size      int64  `json:"size"`
		LFS       *struct {
			SHA256 string `json:"sha256"`
			Size   int64  `json:"size"`
		} `json:"lfs"`
	} `json:"siblings"`
}

// Info resolves src's revision to a commit and reads the file's LFS
// metadata.
func (c *Client) Info(ctx context.Context, src Source) (Info, error) {
	u := c.url("api", "models", src.Org, src.Repo, "revision")
	// The revision is one segment: a branch like refs/pr/1 goes escaped.
	rev := src.RevisionOrMain()
	u.RawPath = u.EscapedPath() + "/" + url.PathEscape(rev)
	u.Path += "/" + rev
	u.RawQuery = "blobs=true"
	resp, err := c.get(ctx, u, "")
	if err != nil {
		return Info{}, err
	}
	defer resp.Body.Close()
	var mi modelInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&mi); err != nil {
		return Info{}, fmt.Errorf("model info for %s: %w", src.RepoID(), err)
	}
	if !commitHash.MatchString(mi.SHA) {
		return Info{}, fmt.Errorf("model info for %s@%s: commit %q is not a 40-hex hash", src.RepoID(), src.RevisionOrMain(), mi.SHA)
	}
	if src.Pinned() && mi.SHA != src.Revision {
		return Info{}, fmt.Errorf("model info for %s: asked for commit %s, the Hub answered for %s", src.RepoID(), src.Revision, mi.SHA)
	}
	info := Info{Commit: mi.SHA, License: cardLicense(mi.CardData.License)}
	for _, s := range mi.Siblings {
		if s.RFilename != src.Path {
			continue
		}
		if s.LFS == nil || !sha256Hex.MatchString(s.LFS.SHA256) || s.LFS.Size <= 0 {
			return Info{}, fmt.Errorf("%s has no LFS SHA-256 and size at %s; refusing a file the Hub does not pin", src.Path, mi.SHA)
		}
		info.SHA256, info.Size = s.LFS.SHA256, s.LFS.Size
		return info, nil
	}
	return Info{}, fmt.Errorf("%s has no file %s at commit %s", src.RepoID(), src.Path, mi.SHA)
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

func cardLicense(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

// url joins path elements, escaped, onto the endpoint.
func (c *Client) url(elems ...string) *url.URL {
	u := *c.endpoint
	u = *u.JoinPath(elems...)
	return &u
}

// FileURL is where the file is served at a commit:
// {endpoint}/{org}/{repo}/resolve/{commit}/{path}.
func (c *Client) FileURL(src Source) *url.URL {
	return c.url(append([]string{src.Org, src.Repo, "resolve", src.RevisionOrMain()}, strings.Split(src.Path, "/")...)...)
}

// get sends a GET (with a Range header when rng is set) and turns the
// failures an operator meets into messages that say what to do.
func (c *Client) get(ctx context.Context, u *url.URL, rng string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	req.Header.Set("User-Agent", "warden-models-pull")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(err)
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent {
		return resp, nil
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint := "set HF_TOKEN (or HF_TOKEN_PATH) to a token that has accepted the repository's terms"
		if c.token != "" {
			hint = "the token in use was refused: check that it is valid and has accepted the repository's terms"
		}
		return nil, fmt.Errorf("GET %s: %s: the repository is gated or private; %s", u.Redacted(), resp.Status, hint)
	case http.StatusNotFound:
		return nil, fmt.Errorf("GET %s: %s: no such repository, revision or file", u.Redacted(), resp.Status)
	}
	return nil, fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
}

// transportError explains network failures; a refused redirect already
// says what it is.
func (c *Client) transportError(err error) error {
	var dns *net.DNSError
	var op *net.OpError
	if errors.As(err, &dns) || errors.As(err, &op) {
		return fmt.Errorf("cannot reach the Hub at %s (no network, or a firewall?); set models.hub or HF_ENDPOINT to a reachable mirror: %w",
			c.endpoint.Host, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
		return fmt.Errorf("the Hub at %s did not answer in time: %w", c.endpoint.Host, err)
	}
	return err
}

// dialTimeout bounds connecting, so that no network fails fast; the body
// itself may take as long as the file needs.
const dialTimeout = 30 * time.Second

// headerTimeout bounds the wait for a response's headers, so a Hub that
// accepts the connection and then stalls fails instead of hanging.
const headerTimeout = 2 * time.Minute
