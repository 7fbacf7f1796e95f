package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/warden-llm/warden/models/testmodel"
)

func newTestModelCommand() *cobra.Command {
	var (
		preset, typ string
		seed        uint64
		shape       testmodel.Spec
	)
	cmd := &cobra.Command{
		Use:   "testmodel FILE",
		Short: "Write a deterministic random-weight GGUF model for tests and benchmarks",
		Long: `Writes a llama-architecture GGUF model with seeded random weights and a
small real tokenizer. The same options always give the same bytes, so a
written model can be pinned in models.lock. Start from a preset and override
any dimension; the output is nonsense text, but loading, tokenizing,
batching and timing are all real.

Presets: demo (the built-in demo model, ~1 MB), tinyllama (TinyLlama-1.1B
shape, Q4_0, ~600 MB).`,
		Example: `  warden testmodel --preset tinyllama build/tinyllama-q4_0.gguf
  warden testmodel --preset demo --layers 4 --type f16 /tmp/demo4.gguf`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var spec testmodel.Spec
			switch preset {
			case "demo":
				spec = testmodel.Demo()
			case "tinyllama":
				spec = testmodel.TinyLlama()
			default:
				return fmt.Errorf("--preset %q: want demo or tinyllama", preset)
			}
			f := cmd.Flags()
			override := func(name string, dst *int, v int) {
				if f.Changed(name) {
					*dst = v
				}
			}
			override("embd", &spec.Embd, shape.Embd)
			override("layers", &spec.Layers, shape.Layers)
			override("heads", &spec.Heads, shape.Heads)
			override("heads-kv", &spec.HeadsKV, shape.HeadsKV)
			override("ffn", &spec.FFN, shape.FFN)
			override("vocab", &spec.Vocab, shape.Vocab)
			override("ctx", &spec.Context, shape.Context)
			if f.Changed("seed") {
				spec.Seed = seed
			}
			if f.Changed("type") {
				t, err := testmodel.ParseType(typ)
				if err != nil {
					return err
				}
				spec.Type = t
			}
			if err := spec.Validate(); err != nil {
				return err
			}
			sum, size, err := testmodel.WriteFile(args[0], spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s  %d bytes  sha256 %s\n", args[0], size, sum)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&preset, "preset", "demo", "starting shape: demo or tinyllama")
	f.StringVar(&typ, "type", "", "weight type of the matrices: f32, f16, q8_0 or q4_0")
	f.Uint64Var(&seed, "seed", 0, "random seed for the weights")
	f.IntVar(&shape.Embd, "embd", 0, "embedding width")
	f.IntVar(&shape.Layers, "layers", 0, "transformer blocks")
	f.IntVar(&shape.Heads, "heads", 0, "attention heads")
	f.IntVar(&shape.HeadsKV, "heads-kv", 0, "key/value heads (grouped-query attention)")
	f.IntVar(&shape.FFN, "ffn", 0, "feed-forward width")
	f.IntVar(&shape.Vocab, "vocab", 0, "vocabulary size (padded with filler words)")
	f.IntVar(&shape.Context, "ctx", 0, "training context length written to the header")
	return cmd
}
