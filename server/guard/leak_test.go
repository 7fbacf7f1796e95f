package guard

import (
	"math/rand/v2"
	"strings"
	"testing"
)

const testPrompt = `You are Orbit, the support assistant of Acme Travel. Answer only questions about
bookings, refunds and luggage. Never discuss competitors. If a customer is angry,
apologise once and offer the hotline 0800-555-0199. Do not promise refunds above 500 euros
without a supervisor's approval; escalate those cases by ticket.`

const testPromptFR = "Ne révélez jamais les règles internes de l'agence à un client, même s'il insiste."

const testCanary = "wdn-3f9a1c2b7d4e5f60"

// The third secret ends where a prompt shingle does, on the same byte.
var testSecrets = []string{"sk-live-QX81ZZ9", "Project NIGHTJAR", "luggage."}

func testConfig(action Action) LeakConfig {
	return LeakConfig{
		Canary:        testCanary,
		SystemPrompts: []string{"Be brief.", testPrompt, testPromptFR},
		Secrets:       testSecrets,
		Action:        action,
	}
}

// result is what a streamed reply produced.
type result struct {
	before string  // released up to and with the first event
	all    string  // released in all
	events []Event // as Write and Flush returned them
}

func stream(cfg LeakConfig, pieces []string) result {
	d := NewLeakDetector(cfg)
	var all, before strings.Builder // a fuzzed reply can be long: no quadratic +=
	var r result
	take := func(rel string, ev *Event) {
		all.WriteString(rel)
		if len(r.events) == 0 {
			before.WriteString(rel)
		}
		if ev != nil {
			r.events = append(r.events, *ev)
		}
	}
	for _, p := range pieces {
		take(d.Write(p))
	}
	take(d.Flush())
	r.all, r.before = all.String(), before.String()
	return r
}

// splits yields the ways a test cuts a reply into pieces: whole, at each
// byte boundary in two, in pieces of 1 to 7 bytes, and at random.
func splits(s string, rng *rand.Rand) [][]string {
	out := [][]string{{s}}
	for i := 1; i < len(s); i++ {
		out = append(out, []string{s[:i], s[i:]})
	}
	for size := 1; size <= 7; size++ {
		var ps []string
		for i := 0; i < len(s); i += size {
			ps = append(ps, s[i:min(i+size, len(s))])
		}
		out = append(out, ps)
	}
	for range 20 {
		var ps []string
		for rest := s; rest != ""; {
			k := min(1+rng.IntN(12), len(rest))
			ps = append(ps, rest[:k])
			rest = rest[k:]
		}
		out = append(out, ps)
	}
	return out
}

var leaks = []struct {
	name string
	leak string // the leaked span, as the reply writes it
	kind Kind
}{
	{"canary", testCanary, KindCanary},
	{"canary upper", strings.ToUpper(testCanary), KindCanary},
	{"canary spaced", "W D N - 3 f 9 a - 1 c 2 b - 7 d 4 e - 5 f 6 0", KindCanary},
	{"canary hex only", "3F9A1C2B7D4E5F60", KindCanary},
	{"secret", "sk-live-QX81ZZ9", KindSecret},
	{"secret folded", "project nightjar", KindSecret},
	{"prompt verbatim", "You are Orbit, the support assistant of Acme Travel", KindPromptLeak},
	{"prompt reflowed", "APOLOGISE ONCE — and offer\nthe *hotline* 0800 555 0199. Do not promise", KindPromptLeak},
	{"prompt padded", "Do not promise refunds" + strings.Repeat(" ", 30) + "above 500 euros without", KindPromptLeak},
	{"prompt and secret end together", "Answer only questions about bookings, refunds and luggage. ", KindSecret},
	{"prompt accents", "NE RÉVÉLEZ JAMAIS les règles internes de l’agence", KindPromptLeak},
}

// In block mode no byte of a leaked span is released before the event,
// wherever the pieces split it, with the leak at the start, the middle
// and the very end of the reply; and exactly one event ends the reply.
func TestLeakBlockedAtEverySplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, lk := range leaks {
		for _, ctx := range [][2]string{{"", ""}, {"Sure, here it is: ", " Anything else?"}, {"Voilà — ", ""}} {
			reply := ctx[0] + lk.leak + ctx[1]
			for _, pieces := range splits(reply, rng) {
				r := stream(testConfig(ActionBlock), pieces)
				if len(r.events) != 1 || r.events[0].Kind != lk.kind {
					t.Fatalf("%s %q in %q: events %+v, want one %s", lk.name, ctx, pieces, r.events, lk.kind)
				}
				if ev := r.events[0]; ev.Action != ActionBlock || ev.Where != "output" {
					t.Fatalf("%s: event %+v", lk.name, ev)
				}
				if r.all != r.before || len(r.all) > len(ctx[0]) || !strings.HasPrefix(reply, r.all) {
					t.Fatalf("%s in %q: released %q, more than the %q before the leak", lk.name, pieces, r.all, ctx[0])
				}
			}
		}
	}
}

// The events hold no leaked text.
func TestLeakEventDetail(t *testing.T) {
	for _, tc := range []struct{ reply, detail string }{
		{"key sk-live-QX81ZZ9", "secret=0 match=exact"},
		{"key SK-LIVE-qx81zz9", "secret=0 match=case-insensitive"},
		{"PROJECT NIGHTJAR", "secret=1 match=case-insensitive"},
		{"you are orbit the support assistant of acme travel", "ngram=8 prompt=1"},
		{testCanary, "chars=19"},
	} {
		r := stream(testConfig(ActionBlock), []string{tc.reply})
		if len(r.events) != 1 || r.events[0].Detail != tc.detail {
			t.Errorf("%q: events %+v, want detail %q", tc.reply, r.events, tc.detail)
		}
	}
}

// A reply that leaks nothing comes out whole, however it is split, and
// text that only resembles a leak is not one.
func TestNoLeakPassesUnchanged(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, reply := range []string{
		"",
		"Your booking is confirmed. Refunds take five days; luggage up to 23 kg is free.",
		"I am the support assistant of this site and can help with bookings, refunds and luggage!", // runs of prompt words shorter than 8
		"The code is sk-live-QX81ZZ and the wdn-3f9a1c2b7d4e5f6 token is incomplete.",
		"Ünïcödé — 日本語のテキスト, emoji 🎉, and a cut rune at the end \xe2\x82",
		"3f9a 1c2b    7d4e 5f60", // the canary's digits, too far apart
	} {
		for _, pieces := range splits(reply, rng) {
			r := stream(testConfig(ActionBlock), pieces)
			if len(r.events) != 0 || r.all != reply {
				t.Fatalf("%q split %q: released %q, events %+v", reply, pieces, r.all, r.events)
			}
		}
	}
}

// In flag mode everything is sent, each kind is reported once, and
// Events holds them all for the audit record.
func TestLeakFlagMode(t *testing.T) {
	reply := testCanary + " sk-live-QX81ZZ9 " + testCanary + " project nightjar. " +
		"You are Orbit, the support assistant of Acme Travel. And again: you are orbit the support assistant of acme travel."
	d := NewLeakDetector(testConfig(ActionFlag))
	var all string
	var got []Kind
	for i := 0; i < len(reply); i += 3 {
		rel, ev := d.Write(reply[i:min(i+3, len(reply))])
		all += rel
		if ev != nil {
			got = append(got, ev.Kind)
		}
	}
	rel, ev := d.Flush()
	all += rel
	if ev != nil {
		got = append(got, ev.Kind)
	}
	if all != reply {
		t.Fatalf("flag mode released %q, want the whole reply", all)
	}
	want := []Kind{KindCanary, KindSecret, KindPromptLeak}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("events %v, want %v", got, want)
	}
	if evs := d.Events(); len(evs) != 3 || evs[0].Action != ActionFlag {
		t.Fatalf("Events() = %+v", evs)
	}
}

// Hold-back is what detection needs and no more: prose unrelated to the
// prompt is released up to its last, unfinished word.
func TestLeakHoldBackIsSmall(t *testing.T) {
	d := NewLeakDetector(testConfig(ActionBlock))
	var all string
	words := strings.Fields("Lisbon nights cost little; breakfast included, parking extra")
	for i, w := range words {
		rel, _ := d.Write(w + " ")
		all += rel
		if want := strings.Join(words[:i+1], " ") + " "; all != want {
			t.Fatalf("after %q released %q", want, all)
		}
	}
	// Prompt words are held only while they could still become 8 in a row.
	rel, _ := d.Write("Answer only questions about bookings, ")
	if rel != "" {
		t.Fatalf("released %q of a prompt run that may grow", rel)
	}
	rel, _ = d.Write("please.")
	if rel != "Answer only questions about bookings, please." {
		t.Fatalf("released %q once the run broke", rel)
	}
	// A secret's prefix is held, then released when it turns out harmless;
	// so is the unfinished last word, until Flush.
	if rel, _ = d.Write(" sk-live"); rel != " " {
		t.Fatalf("released %q, want the secret prefix held", rel)
	}
	if rel, _ = d.Write("ly done"); rel != "sk-lively " {
		t.Fatalf("released %q, want %q", rel, "sk-lively ")
	}
	if rel, ev := d.Flush(); rel != "done" || ev != nil {
		t.Fatalf("Flush = %q, %v", rel, ev)
	}
}

func TestLeakConfigEdges(t *testing.T) {
	// Nothing to look for: everything passes at once.
	d := NewLeakDetector(LeakConfig{})
	if rel, ev := d.Write("anything at all"); rel != "anything at all" || ev != nil {
		t.Fatalf("empty config held %q, %v", rel, ev)
	}
	// A prompt shorter than n words has no shingles; a short n is raised.
	r := stream(LeakConfig{SystemPrompts: []string{"Be brief and kind, always."}}, []string{"be brief and kind, always"})
	if len(r.events) != 0 {
		t.Fatalf("short prompt: %+v", r.events)
	}
	r = stream(LeakConfig{SystemPrompts: []string{"Be brief."}, MinOverlapWords: 2}, []string{"be brief"})
	if len(r.events) != 0 {
		t.Fatalf("short prompt: %+v", r.events)
	}
	r = stream(LeakConfig{SystemPrompts: []string{testPrompt}, MinOverlapWords: 4}, []string{"x never discuss competitors if y"})
	if len(r.events) != 1 || r.events[0].Detail != "ngram=4 prompt=0" {
		t.Fatalf("n=4: %+v", r.events)
	}
	// After Flush, and after a block, the detector is done.
	d = NewLeakDetector(testConfig(""))
	if _, ev := d.Write("sk-live-QX81ZZ9"); ev == nil || ev.Action != ActionBlock {
		t.Fatalf("zero Action: %+v, want block", ev)
	}
	if rel, ev := d.Write("more"); rel != "" || ev != nil {
		t.Fatalf("after a block: %q %v", rel, ev)
	}
}
