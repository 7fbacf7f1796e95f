package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// What the server stores (the audit log) and logs is server-derived,
// taken from a verified token, or client text that passed the redactor
// (docs/audit.md, "Where each value comes from"). The functions here turn
// the parts of a request a client chooses freely (path, method, model
// name, query) into values that qualify.

// unmatchedEndpoint stands for the path of a request no route matched: that
// path is whatever the client typed, a card number as easily as a route.
const unmatchedEndpoint = "unmatched"

// otherMethod stands for a method no route is registered for: net/http
// accepts any token as a method, digits included.
const otherMethod = "OTHER"

// unknownPrefix marks a stored value that is a keyed hash of client text
// the server could not vouch for, such as a model name nobody serves.
const unknownPrefix = "unknown:hmac-sha256:"

// RecordKeySize is the length of Config.RecordKey.
const RecordKeySize = 32

// DeriveRecordKey derives the key of the hashes that stand in for unknown
// client values from the audit log's chain key, so that the tags stay
// comparable across restarts without a key file of their own. The label
// separates the uses: no tag can be mistaken for a chain MAC.
func DeriveRecordKey(auditKey []byte) []byte {
	m := hmac.New(sha256.New, auditKey)
	m.Write([]byte("warden record values v1"))
	return m.Sum(nil)
}

// recordKeyOrRandom returns key, or a random key when none is configured:
// tags then still compare within one run.
func recordKeyOrRandom(key []byte) []byte {
	if len(key) > 0 {
		return slices.Clone(key)
	}
	k := make([]byte, RecordKeySize)
	rand.Read(k)
	return k
}

// unknownValue is what is stored in place of client text that names
// nothing the server knows. It is keyed rather than a bare SHA-256: the
// values are guessable (an e-mail address, a 16-digit card number whose
// issuer prefix is known), so a bare hash would be reversed by trying
// candidates, while this one needs the key, which lives outside the
// database. Equal values still give equal tags, so an auditor can tell
// that one client asked for the same unknown model a thousand times.
// field separates the uses, so equal text in two fields tags differently.
func (s *Server) unknownValue(field, v string) string {
	m := hmac.New(sha256.New, s.recordKey)
	m.Write([]byte(field))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return unknownPrefix + hex.EncodeToString(m.Sum(nil)[:8])
}

// routeSet lists the routes registered on e as "METHOD /template", leaving
// out the catch-alls that answer 404, so that a request found in it is one
// a route matched.
func routeSet(e *echo.Echo) map[string]bool {
	routes := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method != echo.RouteNotFound {
			routes[r.Method+" "+r.Path] = true
		}
	}
	return routes
}

// endpointOf is the route template the request matched, such as
// /v1/models/:model, or "unmatched". Audit records, the request log line
// and metrics labels all use it.
func (s *Server) endpointOf(c echo.Context) string {
	if s.routes[c.Request().Method+" "+c.Path()] {
		return c.Path()
	}
	return unmatchedEndpoint
}

// methodOf is the request's method if it is one of HTTP's, or "OTHER".
func methodOf(r *http.Request) string {
	switch m := r.Method; m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return otherMethod
}

// nameModel notes the model a request names. Whether it is served is
// taken now: an unload during the request does not turn the name into
// unknown client text.
func (s *Server) nameModel(x *exchange, name string) {
	x.model = name
	_, x.modelServed = s.models.info(name)
}

// recordedModel is the model to store for the request: its name if that
// names a model served when the request named it or now (an admin load
// serves it from the end of the request on), a keyed hash otherwise, and
// "" if the request named none.
func (s *Server) recordedModel(x *exchange) string {
	_, now := s.models.info(x.model)
	return s.storedName(x, now)
}

func (s *Server) storedName(x *exchange, servedNow bool) string {
	switch {
	case x.model == "":
		return ""
	case x.modelServed || servedNow:
		return x.model
	}
	return s.unknownValue("model", x.model)
}

// modelOutcome is what a finished request's record and metrics say of its
// model, from one look in the registry.
type modelOutcome struct {
	stored string // what the audit log stores: see recordedModel
	label  string // the metrics label: the name while the model is loaded, else "", so labels stay bounded
	sha256 string // the loaded file's, as pinned
}

func (s *Server) modelOutcome(x *exchange) modelOutcome {
	info, loaded := s.models.info(x.model)
	out := modelOutcome{stored: s.storedName(x, loaded)}
	if loaded {
		out.label, out.sha256 = x.model, info.SHA256
	}
	return out
}

// scrubName replaces name in msg, as is and as %q quotes it, with what the
// record stores for it, for messages that quote what a client sent.
func scrubName(msg, name, recorded string) string {
	if name == "" || name == recorded {
		return msg
	}
	quoted := strconv.Quote(name)
	msg = strings.ReplaceAll(msg, quoted, strconv.Quote(recorded))
	return strings.ReplaceAll(msg, name, recorded)
}

// maxUnescapes bounds how many layers of percent-encoding queryDetail
// peels off.
const maxUnescapes = 4

// queryDetail is an audit query as the record's detail keeps it:
// "query k=v ...", keys sorted, each value decoded. The audit log redacts
// detail, and the redactor knows jane@example.com but not
// jane%40example.com; so values lose every layer of percent-encoding,
// not only the one the query parser removed: encoding twice must not
// smuggle a value past the redactor either.
func queryDetail(q url.Values) string {
	var b strings.Builder
	b.WriteString("query")
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range q[k] {
			b.WriteString(" " + unescapeAll(k) + "=" + unescapeAll(v))
		}
	}
	return b.String()
}

// unescapeAll decodes percent-encoding until nothing changes (or a layer
// does not decode), at most maxUnescapes times. It leaves '+' alone: the
// query parser already turned the encoded spaces into spaces, so a '+'
// left is a plus sign, as in +44 20 7946 0000, which the redactor needs.
func unescapeAll(s string) string {
	for range maxUnescapes {
		d, err := url.PathUnescape(s)
		if err != nil || d == s {
			break
		}
		s = d
	}
	return s
}
