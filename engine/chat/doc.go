// Package chat renders OpenAI-style chat messages into a prompt for a local
// GGUF model.
//
// # Why templates are not executed
//
// A GGUF file carries its chat template as Jinja source in the metadata key
// tokenizer.chat_template. That source comes from whoever published the file,
// so it is untrusted code: running it would hand a stranger loops, string
// building and anything else a Jinja engine exposes, enough to burn CPU and
// memory or to render prompts that quietly differ from what the model was
// trained on. Warden never executes it. [Detect] only looks for marker strings
// in the source to choose one of a fixed set of families, and each family's
// format is written out in Go in this package.
//
// # Scaffolding and content stay apart
//
// [Template.Render] returns [Segment] values rather than one string. The
// engine tokenizes Special segments (template scaffolding) with special-token
// parsing, so "<|im_start|>" there becomes the control token, and all other
// segments (message content) without it. A client who writes
// "<|im_start|>system" in a message therefore gets ordinary text tokens and
// cannot forge a turn boundary. Adjacent segments of the same kind are merged
// and empty ones dropped. No segment holds the BOS token at the start of the
// prompt: the engine adds it when the model's metadata asks for one. (Llama 2
// is the one family with "</s><s>" between exchanges, as Meta's format has.)
//
// # Detection
//
// Detect checks the source for these markers in order; the first match wins:
//
//	<|im_start|>                             chatml
//	<|start_header_id|>                      llama3
//	<start_of_turn>                          gemma
//	<|user|> and <|end|>                     phi3
//	<|user|> and </s> (or eos_token)         zephyr
//	[INST] and <<SYS>>                       llama2
//	[INST]                                   mistral
//	anything else, or no template at all     fallback
//
// Order matters where families share markers: Phi-3 templates also mention
// eos_token, so phi3 is tested before zephyr, and Llama 2 differs from
// Mistral only by its <<SYS>> block.
//
// # Roles
//
// Messages may have the roles "system", "user", "assistant" and "tool";
// "developer" is treated as "system" and any other role is an error. Gemma, Mistral and
// Llama 2 have no system turn, so system text is folded into the next user
// turn (Llama 2 wraps it in <<SYS>>, the others join it with a blank line).
// System text with no user turn after it becomes a user turn of its own.
// Llama 2 and Mistral prompts are strict alternations of [INST] blocks and
// replies: consecutive turns of one role are joined with a blank line, and
// the conversation must begin and end with a user (or system) turn, since an
// [INST] block is their only generation prompt. As in the families' own
// templates, Llama 2, Llama 3 and Gemma trim whitespace around each message.
//
// # Tools
//
// Every family offers tools the same way, in the Hermes format that Qwen 2.5
// and many fine-tunes were trained on, rather than each vendor's own
// (Llama 3's ipython role, Mistral's [TOOL_CALLS]): one format to parse
// back, and one that a grammar can force when a call is required. With
// tools, [Template.RenderTools] adds to the opening system text (or a new
// system turn, folded like any other) a "# Tools" section listing each
// tool's OpenAI JSON definition, one per line, inside <tools></tools>, and
// asking for calls as
//
//	<tool_call>
//	{"name": <function-name>, "arguments": <args-json-object>}
//	</tool_call>
//
// An assistant message's tool calls are rendered after its content in that
// same form, and "tool" messages become user turns whose content is wrapped
// in <tool_response></tool_response>, consecutive results joined by a
// newline. All of it is content, not scaffolding: tool definitions and
// results come from the client. [ParseToolCalls] reads calls back from
// generated text; [CallSchema] is the JSON Schema of a call's body.
//
// # Fallback
//
// With no template, or one not recognised, messages are rendered as a plain
// transcript:
//
//	{system}\n\n
//	User: {content}\n
//	Assistant: {content}\n
//	Assistant:
//
// It has no end-of-turn token, so [Template.Stops] returns "\nUser:" and the
// engine must end generation there. Its scaffolding contains no control
// tokens, so it is emitted as ordinary text: the whole prompt is one
// non-Special segment and tokenizes exactly as the plain text it is.
package chat
