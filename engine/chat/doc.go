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
// Messages may have the roles "system", "user" and "assistant"; "developer" is
// treated as "system" and any other role is an error. Gemma, Mistral and
// Llama 2 have no system turn, so system text is folded into the next user
// turn (Llama 2 wraps it in <<SYS>>, the others join it with a blank line).
// System text with no user turn after it becomes a user turn of its own.
// Llama 2 and Mistral prompts are strict alternations of [INST] blocks and
// replies: consecutive turns of one role are joined with a blank line, and
// the conversation must begin and end with a user (or system) turn, since an
// [INST] block is their only generation prompt. As in the families' own
// templates, Llama 2, Llama 3 and Gemma trim whitespace around each message.
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
