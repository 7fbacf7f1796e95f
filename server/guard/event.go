// Package guard holds Warden's deterministic defences against prompt
// injection and system-prompt leaks (OWASP LLM01, LLM07): invisible-text
// filtering, injection heuristics, spotlighting of untrusted content, and
// leak detection on output. It knows nothing of HTTP; the server runs
// every generation request through it and records what it finds.
package guard

// Kind names what a guard check found.
type Kind string

// The kinds of guard events.
const (
	KindInvisible     Kind = "invisible_text" // tag, zero-width or bidi-control characters
	KindInjection     Kind = "injection"      // a known injection phrasing
	KindCanary        Kind = "canary_leak"    // the request's canary appeared in the output
	KindPromptLeak    Kind = "prompt_leak"    // output overlaps the system prompt
	KindSecret        Kind = "secret_leak"    // output holds an operator-listed secret
	KindSystemMessage Kind = "system_message" // a caller's system/developer message under the operator's policy
)

// Action is what the guard did about an event.
type Action string

// The actions.
const (
	ActionFlag   Action = "flag"   // recorded, nothing changed
	ActionBlock  Action = "block"  // the request or reply was stopped
	ActionStrip  Action = "strip"  // the offending characters were removed
	ActionReject Action = "reject" // the request was refused (400)
	ActionAppend Action = "append" // a caller's system message was kept below the operator's
)

// Event is one finding, as the audit record and /metrics see it. It never
// holds the text it is about: Where says which message, chunk or output
// it was in, and Detail is short and content-free (a rule name, a count of
// characters, a language).
type Event struct {
	Kind   Kind    `json:"kind"`
	Action Action  `json:"action"`
	Score  float64 `json:"score,omitempty"`
	Where  string  `json:"where"`
	Detail string  `json:"detail,omitempty"`
}
