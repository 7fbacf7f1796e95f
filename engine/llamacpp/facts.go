package llamacpp

import (
	"fmt"

	"github.com/warden-llm/warden/engine/gguf"
)

// modelFacts is what Warden reads from the GGUF header itself rather than
// asking llama.cpp, which does not expose it through the bindings.
type modelFacts struct {
	architecture string
	layers       int
	trainContext int
	chatTemplate string
	pooling      pooling        // <arch>.pooling_type; llama.cpp reads it only for embedding architectures
	control      map[int]bool   // control tokens: never rendered as text
	special      map[string]int // text of every token llama.cpp parses as special
	longest      int            // longest key of special, in bytes
}

// Token types in tokenizer.ggml.token_type, as llama.cpp numbers them.
const (
	tokenControl     = 3
	tokenUserDefined = 4
)

func readFacts(f *gguf.File) (modelFacts, error) {
	arch, ok := f.String("general.architecture")
	if !ok {
		return modelFacts{}, fmt.Errorf("no general.architecture in the header")
	}
	facts := modelFacts{architecture: arch, control: map[int]bool{}, special: map[string]int{}}
	if n, ok := f.Uint(arch + ".block_count"); ok {
		facts.layers = int(n)
	}
	if n, ok := f.Uint(arch + ".context_length"); ok {
		facts.trainContext = int(n)
	}
	facts.chatTemplate, _ = f.String("tokenizer.chat_template")
	if n, ok := f.Uint(arch + ".pooling_type"); ok && n <= uint64(poolLast) {
		facts.pooling = pooling(n)
	}

	texts, _ := f.Strings("tokenizer.ggml.tokens")
	v, _ := f.Lookup("tokenizer.ggml.token_type")
	types, _ := v.Any().([]int32) // llama.cpp requires INT32 here
	if len(types) != len(texts) {
		types = nil // malformed; llama.cpp will refuse the file itself
	}
	for id, t := range types {
		if t != tokenControl && t != tokenUserDefined {
			continue
		}
		if t == tokenControl {
			facts.control[id] = true
		}
		if texts[id] != "" {
			facts.special[texts[id]] = id
			facts.longest = max(facts.longest, len(texts[id]))
		}
	}
	return facts, nil
}
