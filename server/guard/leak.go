package guard

import (
	"fmt"
	"strings"
)

// RefusalText is what the server sends in place of a blocked reply, with
// finish_reason "content_filter" (OpenAI's value for a reply its filter
// stopped): the caller sees a refusal, never a guard error.
const RefusalText = "I can't share that."

// DefaultMinOverlapWords is the n-gram length for system-prompt overlap
// when LeakConfig.MinOverlapWords is 0: eight words in a row, normalised,
// is longer than the stock phrases a reply shares with a prompt by chance
// ("if you do not know the answer"), and shorter than any sentence worth
// extracting (docs/guard.md, "Leak detection").
const DefaultMinOverlapWords = 8

// minOverlapWords is the floor for MinOverlapWords: below four words,
// ordinary phrases overlap.
const minOverlapWords = 4

// canaryGap is how many non-alphanumeric bytes may stand between two of
// the canary's characters ("w d n - 3 f …", "3f9a-1c2b") before the match
// restarts; it bounds what an obfuscated canary makes the detector hold.
const canaryGap = 3

// LeakConfig says what one reply must not reveal.
type LeakConfig struct {
	Canary          string   // the request's canary (NewCanary); "" for none
	SystemPrompts   []string // the operator's and the caller's system/developer messages
	Secrets         []string // operator-listed strings; empty ones are ignored
	MinOverlapWords int      // n-gram length for prompt overlap; 0 means DefaultMinOverlapWords, below 4 means 4
	// Action is ActionBlock (also the zero value: a leak detector that is
	// not told otherwise fails closed) or ActionFlag.
	Action Action
}

// LeakDetector checks one streamed reply, piece by piece. Its Write
// returns what may be sent now and holds back only a suffix that could
// still turn out to be part of a leak, as stop strings do. It is not safe
// for concurrent use; one reply, one detector.
type LeakDetector struct {
	action  Action
	secrets []string
	sec     *matcher
	secS    int32
	can     *matcher
	canS    int32
	canGap  int
	canProj int64   // alphanumeric bytes fed to the canary matcher
	canOffs []int64 // their stream offsets, a ring of the longest pattern's length
	out     outWords

	buf  []byte // the stream from offset base on: what is not yet released
	base int64
	pos  int64 // offset after the last byte the checks have seen

	seen    map[Kind]bool
	events  []Event
	next    int   // events[next:] are not yet returned by Write or Flush
	cut     int64 // in block mode, where the first leak begins; -1 until then
	stopped bool
}

// NewLeakDetector prepares the checks for one reply; hashing a 2 KiB
// system prompt dominates (about 65 µs, BenchmarkLeakDetector).
func NewLeakDetector(cfg LeakConfig) *LeakDetector {
	d := &LeakDetector{action: cfg.Action, seen: map[Kind]bool{}, cut: -1}
	if d.action == "" {
		d.action = ActionBlock
	}
	n := cfg.MinOverlapWords
	if n == 0 {
		n = DefaultMinOverlapWords
	}
	n = max(n, minOverlapWords)
	d.secrets = append([]string(nil), cfg.Secrets...) // the caller's slice may change under us
	if len(d.secrets) > 0 {
		d.sec = newMatcher(d.secrets)
	}
	if pats := canaryPatterns(cfg.Canary); len(pats) > 0 {
		d.can = newMatcher(pats)
		d.canOffs = make([]int64, len(pats[0]))
	}
	d.out.init(d, newShingles(cfg.SystemPrompts, n))
	return d
}

// canaryPatterns is what the canary is matched as, on the stream's
// alphanumeric bytes only (so case, and separators between characters, do
// not hide it): the canary with its punctuation removed, and its longest
// alphanumeric run when that is long enough to be unique on its own (the
// 16 hex digits of NewCanary's), so a reply that drops the frame is still
// caught.
func canaryPatterns(canary string) []string {
	var all, run, longest strings.Builder
	flush := func() {
		if run.Len() > longest.Len() {
			longest.Reset()
			longest.WriteString(run.String())
		}
		run.Reset()
	}
	for i := 0; i < len(canary); i++ {
		if c := foldByte(canary[i]); isAlnum(c) {
			all.WriteByte(c)
			run.WriteByte(c)
		} else {
			flush()
		}
	}
	flush()
	switch {
	case all.Len() == 0:
		return nil
	case longest.Len() >= 12 && longest.Len() < all.Len():
		return []string{all.String(), longest.String()}
	}
	return []string{all.String()}
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Write feeds the next piece of the reply. It returns the text that is
// safe to send now, and an event when a leak was found. In block mode,
// release never holds a byte of the leaked span, the detector stops, and
// later calls return nothing: the caller sends release, then RefusalText,
// and ends with finish_reason "content_filter". In flag mode the detector
// goes on, and reports each kind once.
func (d *LeakDetector) Write(piece string) (release string, ev *Event) {
	if d.stopped {
		return "", nil
	}
	start := d.base + int64(len(d.buf))
	d.buf = append(d.buf, piece...)
	for i := 0; i < len(piece) && d.cut < 0; i++ {
		d.feed(start+int64(i), piece[i])
		d.pos = start + int64(i) + 1
	}
	return d.release(false), d.event()
}

// Flush ends the reply: what was held back for a match that can no longer
// complete is released.
func (d *LeakDetector) Flush() (release string, ev *Event) {
	if d.stopped {
		return "", nil
	}
	d.out.finish()
	release, ev = d.release(true), d.event()
	d.stopped = true // the reply is over: later calls return nothing
	return release, ev
}

// Events is every event found so far (one per kind at most), for the
// audit record: Write and Flush return one at a time.
func (d *LeakDetector) Events() []Event { return append([]Event(nil), d.events...) }

// feed runs one byte through the three checks.
func (d *LeakDetector) feed(off int64, c byte) {
	if d.sec != nil {
		d.secS = d.sec.step(d.secS, c)
		if p := d.sec.hit(d.secS); p >= 0 {
			d.secretHit(off+1, p)
		}
	}
	if d.can != nil {
		d.feedCanary(off, c)
	}
	d.out.byte(off, c)
}

func (d *LeakDetector) secretHit(end int64, p int) {
	if d.seen[KindSecret] {
		return
	}
	start := end - int64(len(d.secrets[p]))
	match := "case-insensitive"
	if string(d.buf[start-d.base:end-d.base]) == d.secrets[p] {
		match = "exact"
	}
	d.found(KindSecret, start, fmt.Sprintf("secret=%d match=%s", p, match))
}

// feedCanary feeds the canary matcher the stream's alphanumeric bytes,
// restarting it after more than canaryGap other bytes.
func (d *LeakDetector) feedCanary(off int64, c byte) {
	if !isAlnum(c) {
		if d.canGap++; d.canGap > canaryGap {
			d.canS = 0
		}
		return
	}
	d.canGap = 0
	d.canOffs[d.canProj%int64(len(d.canOffs))] = off
	d.canProj++
	d.canS = d.can.step(d.canS, c)
	if p := d.can.hit(d.canS); p >= 0 {
		start := d.canOffs[(d.canProj-int64(d.can.lens[p]))%int64(len(d.canOffs))]
		d.found(KindCanary, start, fmt.Sprintf("chars=%d", d.can.lens[p]))
	}
}

// canaryHold is the offset of the first byte of a canary match in
// progress, or -1.
func (d *LeakDetector) canaryHold() int64 {
	if d.can == nil {
		return -1
	}
	k := d.can.depth(d.canS)
	if k == 0 {
		return -1
	}
	return d.canOffs[(d.canProj-int64(k))%int64(len(d.canOffs))]
}

// found records a leak whose span begins at start. Each kind is reported
// once; in block mode the first one (or ones, ending on the same byte)
// fixes where the release stops.
func (d *LeakDetector) found(kind Kind, start int64, detail string) {
	if d.seen[kind] {
		return
	}
	d.seen[kind] = true
	d.events = append(d.events, Event{Kind: kind, Action: d.action, Where: "output", Detail: detail})
	if d.action == ActionBlock && (d.cut < 0 || start < d.cut) {
		d.cut = start // two kinds can end on one byte: cut before both
	}
}

func (d *LeakDetector) event() *Event {
	if d.next >= len(d.events) {
		return nil
	}
	ev := d.events[d.next]
	d.next++
	return &ev
}

// release hands out the buffered text before the earliest offset any
// check may still need (all of it at the end), or before the leak.
func (d *LeakDetector) release(final bool) string {
	safe := d.base + int64(len(d.buf))
	if !final || d.cut >= 0 {
		safe = d.holdFrom(safe)
	}
	if d.cut >= 0 {
		safe = min(safe, d.cut)
		d.stopped = true
	}
	if safe <= d.base {
		return ""
	}
	k := int(safe - d.base)
	out := string(d.buf[:k])
	d.buf = append(d.buf[:0], d.buf[k:]...)
	d.base = safe
	return out
}

// holdFrom lowers end to the first byte of any match still in progress.
func (d *LeakDetector) holdFrom(end int64) int64 {
	if d.sec != nil {
		end = min(end, d.pos-int64(d.sec.depth(d.secS)))
	}
	if h := d.canaryHold(); h >= 0 {
		end = min(end, h)
	}
	if h := d.out.hold(); h >= 0 {
		end = min(end, h)
	}
	return end
}
