package chat

import "testing"

// Short but realistic template sources, modelled on what each family's GGUF
// files carry in tokenizer.chat_template.
const (
	chatmlSource = `{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

	llama3Source = `{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>

'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>

' }}{% endif %}`

	llama2Source = `{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}`

	mistralSource = `{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}`

	gemmaSource = `{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}`

	// Phi-3 also mentions eos_token, which is why it must be tested
	// before zephyr.
	phi3Source = `{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}`

	zephyrSource = `{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}`

	// A format none of the families covers (DeepSeek's full-width markers).
	unknownSource = `{% for message in messages %}{% if message['role'] == 'user' %}{{'<｜User｜>' + message['content']}}{% elif message['role'] == 'assistant' %}{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{'<｜Assistant｜>'}}{% endif %}`
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name   string
		source string
		want   string
	}{
		{"chatml", chatmlSource, "chatml"},
		{"llama3", llama3Source, "llama3"},
		{"llama2", llama2Source, "llama2"},
		{"mistral", mistralSource, "mistral"},
		{"gemma", gemmaSource, "gemma"},
		{"phi3", phi3Source, "phi3"},
		{"zephyr", zephyrSource, "zephyr"},
		{"zephyr with literal eos", `{{ '<|user|>\n' + message['content'] + '</s>' }}`, "zephyr"},
		{"absent", "", "fallback"},
		{"unknown", unknownSource, "fallback"},
		{"user marker alone", `{{ '<|user|>\n' + message['content'] }}`, "fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.source).Name(); got != tt.want {
				t.Errorf("Detect(...).Name() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestByName(t *testing.T) {
	names := []string{"chatml", "llama2", "llama3", "mistral", "gemma", "phi3", "zephyr", "fallback"}
	for _, name := range names {
		tmpl, err := ByName(name)
		if err != nil {
			t.Errorf("ByName(%q): %v", name, err)
			continue
		}
		if got := tmpl.Name(); got != name {
			t.Errorf("ByName(%q).Name() = %q", name, got)
		}
	}
	if _, err := ByName("jinja"); err == nil {
		t.Error("ByName(\"jinja\") succeeded, want an error")
	}
}

func TestZeroTemplateIsFallback(t *testing.T) {
	var tmpl Template
	if got := tmpl.Name(); got != "fallback" {
		t.Errorf("zero Template.Name() = %q, want fallback", got)
	}
}

func TestStops(t *testing.T) {
	fallback := Detect("")
	stops := fallback.Stops()
	if len(stops) != 1 || stops[0] != "\nUser:" {
		t.Fatalf("fallback Stops() = %q, want [\"\\nUser:\"]", stops)
	}
	stops[0] = "changed"
	if again := fallback.Stops(); again[0] != "\nUser:" {
		t.Errorf("Stops() shares its slice: second call gave %q", again)
	}
	for _, src := range []string{chatmlSource, llama3Source, llama2Source, mistralSource, gemmaSource, phi3Source, zephyrSource} {
		tmpl := Detect(src)
		if got := tmpl.Stops(); len(got) != 0 {
			t.Errorf("%s Stops() = %q, want none", tmpl.Name(), got)
		}
	}
}
