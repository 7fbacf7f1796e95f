package chat

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type role int

const (
	roleSystem role = iota
	roleUser
	roleAssistant
	numRoles
)

// turn is a validated message. system holds system text folded into a user
// turn, for families with no system role; content is the message itself.
type turn struct {
	role    role
	system  string
	content string
}

// text is the turn's content with any folded system text before it.
func (t turn) text() string { return joinParagraphs(t.system, t.content) }

// parseMessages validates msgs and maps their roles. Tool results become
// user turns, consecutive ones joined, each in <tool_response> tags; an
// assistant's tool calls follow its content in <tool_call> tags.
func parseMessages(msgs []Message, trim bool) ([]turn, error) {
	if len(msgs) == 0 {
		return nil, ErrNoMessages
	}
	turns := make([]turn, 0, len(msgs))
	for i, m := range msgs {
		if !utf8.ValidString(m.Content) {
			return nil, fmt.Errorf("messages[%d]: %w", i, ErrInvalidUTF8)
		}
		content := m.Content
		if trim {
			content = strings.TrimSpace(content)
		}
		var r role
		switch m.Role {
		case RoleSystem, RoleDeveloper:
			r = roleSystem
		case RoleUser:
			r = roleUser
		case RoleAssistant:
			r = roleAssistant
			calls, err := formatCalls(m.ToolCalls)
			if err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			content = joinLines(content, calls)
		case RoleTool:
			r = roleUser
			content = "<tool_response>\n" + content + "\n</tool_response>"
			if n := len(turns); n > 0 && i > 0 && msgs[i-1].Role == RoleTool {
				turns[n-1].content += "\n" + content
				continue
			}
		default:
			return nil, fmt.Errorf("messages[%d]: %w %q", i, ErrUnsupportedRole, m.Role)
		}
		turns = append(turns, turn{role: r, content: content})
	}
	return turns, nil
}

func formatCalls(calls []ToolCall) (string, error) {
	var lines []string
	for _, c := range calls {
		if !utf8.ValidString(c.Name) || !utf8.ValidString(c.Arguments) {
			return "", ErrInvalidUTF8
		}
		s, err := formatCall(c)
		if err != nil {
			return "", err
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n"), nil
}

// withSystemText puts text at the start of the system turn that opens the
// conversation, adding one if there is none.
func withSystemText(turns []turn, text string) []turn {
	if len(turns) > 0 && turns[0].role == roleSystem {
		turns[0].content = joinParagraphs(turns[0].content, text)
		return turns
	}
	return append([]turn{{role: roleSystem, content: text}}, turns...)
}

func joinLines(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "\n" + b
}

// turnFormat describes a family in which every turn is scaffolding, content,
// scaffolding, and the generation prompt opens an assistant turn.
type turnFormat struct {
	open, close [numRoles]string
	prompt      string
	foldSystem  bool // no system role: fold system text into user turns
	plain       bool // scaffolding has no control tokens: emit it as text
}

// format returns the turnFormat for every family but llama2 and mistral.
func (t Template) format() turnFormat {
	switch t.kind {
	case kindChatML:
		return turnFormat{
			open: [numRoles]string{
				"<|im_start|>system\n", "<|im_start|>user\n", "<|im_start|>assistant\n",
			},
			close:  sameForAll("<|im_end|>\n"),
			prompt: "<|im_start|>assistant\n",
		}
	case kindLlama3:
		const h = "<|start_header_id|>%s<|end_header_id|>\n\n"
		return turnFormat{
			open: [numRoles]string{
				fmt.Sprintf(h, "system"), fmt.Sprintf(h, "user"), fmt.Sprintf(h, "assistant"),
			},
			close:  sameForAll("<|eot_id|>"),
			prompt: fmt.Sprintf(h, "assistant"),
		}
	case kindGemma:
		return turnFormat{
			open: [numRoles]string{
				roleUser: "<start_of_turn>user\n", roleAssistant: "<start_of_turn>model\n",
			},
			close:      sameForAll("<end_of_turn>\n"),
			prompt:     "<start_of_turn>model\n",
			foldSystem: true,
		}
	case kindPhi3, kindZephyr:
		end := "<|end|>\n"
		if t.kind == kindZephyr {
			end = "</s>\n"
		}
		return turnFormat{
			open:   [numRoles]string{"<|system|>\n", "<|user|>\n", "<|assistant|>\n"},
			close:  sameForAll(end),
			prompt: "<|assistant|>\n",
		}
	}
	return turnFormat{
		open:   [numRoles]string{"", "User: ", "Assistant: "},
		close:  [numRoles]string{"\n\n", "\n", "\n"},
		prompt: "Assistant:",
		plain:  true,
	}
}

func sameForAll(s string) [numRoles]string { return [numRoles]string{s, s, s} }

func renderTurns(f turnFormat, turns []turn) []Segment {
	if f.foldSystem {
		turns = foldSystem(turns)
	}
	b := builder{plain: f.plain}
	for _, t := range turns {
		b.scaffold(f.open[t.role])
		b.content(t.text())
		b.scaffold(f.close[t.role])
	}
	b.scaffold(f.prompt)
	return b.segments()
}

// renderInst renders the [INST] families, llama2 and mistral, whose prompts
// alternate user blocks and replies. An [INST] block is their only
// generation prompt, so the conversation has to end with a user turn.
func renderInst(k kind, turns []turn) ([]Segment, error) {
	turns = mergeRuns(foldSystem(turns))
	if turns[0].role != roleUser {
		return nil, fmt.Errorf("%w: %s conversations must start with a user or system message", ErrTurnOrder, k)
	}
	if turns[len(turns)-1].role != roleUser {
		return nil, fmt.Errorf("%w: %s conversations must end with a user or system message", ErrTurnOrder, k)
	}
	var b builder
	for i, t := range turns {
		switch {
		case t.role == roleUser && k == kindLlama2:
			// Every exchange after the first is its own BOS ... EOS
			// sequence; the engine adds the first BOS.
			if i > 0 {
				b.scaffold("<s>")
			}
			b.scaffold("[INST] ")
			if t.system != "" {
				b.scaffold("<<SYS>>\n")
				b.content(t.system)
				b.scaffold("\n<</SYS>>\n\n")
			}
			b.content(t.content)
			b.scaffold(" [/INST]")
		case t.role == roleUser:
			b.scaffold("[INST] ")
			b.content(t.text())
			b.scaffold(" [/INST]")
		case k == kindLlama2:
			b.scaffold(" ")
			b.content(t.content)
			b.scaffold(" </s>")
		default:
			b.content(t.content)
			b.scaffold("</s>")
		}
	}
	return b.segments(), nil
}

// foldSystem attaches system text to the next user turn, for families with
// no system role. System text that no user turn follows becomes a user turn
// of its own rather than being lost.
func foldSystem(turns []turn) []turn {
	out := make([]turn, 0, len(turns))
	var pending []string
	flush := func() {
		if pending != nil {
			out = append(out, turn{role: roleUser, system: joinParagraphs(pending...)})
			pending = nil
		}
	}
	for _, t := range turns {
		switch t.role {
		case roleSystem:
			pending = append(pending, t.content)
		case roleUser:
			t.system = joinParagraphs(pending...)
			pending = nil
			out = append(out, t)
		default:
			flush()
			out = append(out, t)
		}
	}
	flush()
	return out
}

// mergeRuns joins consecutive turns of the same role, for families that
// need strict alternation.
func mergeRuns(turns []turn) []turn {
	out := make([]turn, 0, len(turns))
	for _, t := range turns {
		if n := len(out); n > 0 && out[n-1].role == t.role {
			last := &out[n-1]
			last.system = joinParagraphs(last.system, t.system)
			last.content = joinParagraphs(last.content, t.content)
			continue
		}
		out = append(out, t)
	}
	return out
}

// joinParagraphs joins the non-empty parts with blank lines.
func joinParagraphs(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(p)
	}
	return b.String()
}

// builder collects segments, merging adjacent ones of the same kind and
// dropping empty ones.
type builder struct {
	plain   bool // emit scaffolding as ordinary text
	segs    []Segment
	cur     strings.Builder
	special bool // kind of the text in cur
}

func (b *builder) scaffold(s string) { b.add(s, !b.plain) }

func (b *builder) content(s string) { b.add(s, false) }

func (b *builder) add(s string, special bool) {
	if s == "" {
		return
	}
	if b.cur.Len() > 0 && special != b.special {
		b.flush()
	}
	b.special = special
	b.cur.WriteString(s)
}

func (b *builder) flush() {
	if b.cur.Len() > 0 {
		b.segs = append(b.segs, Segment{Text: b.cur.String(), Special: b.special})
		b.cur.Reset()
	}
}

func (b *builder) segments() []Segment {
	b.flush()
	return b.segs
}
