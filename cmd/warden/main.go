// Command warden is a local LLM server with an OpenAI-compatible API that
// loads only pinned models. Run `warden --help` for the commands.
package main

import (
	"context"
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRootCommand().ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "warden:", err)
		os.Exit(1)
	}
}
