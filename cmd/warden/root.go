package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/warden-llm/warden/store"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	config    string
	cfg       *config // the file and environment, once read
	dataDir   string
	lock      string
	logLevel  string
	logFormat string
}

func newRootCommand() *cobra.Command {
	var g globalOptions
	root := &cobra.Command{
		Use:   "warden",
		Short: "A local LLM server that loads only approved models",
		Long: `Warden serves GGUF language models through llama.cpp behind an
OpenAI-compatible HTTP API. It loads a model only if the model's file matches
its entry in models.lock (SHA-256 and size), so what runs is what was approved.

Start with:
  warden serve          serve the built-in demo model on http://127.0.0.1:8080
  warden serve --help   every serving option`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(g.config)
			if err != nil {
				return err
			}
			g.cfg = cfg
			return cfg.apply(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.config, "config", "", "configuration file (default: $WARDEN_CONFIG, else the first of ./warden.yaml, ~/.config/warden/warden.yaml, /etc/warden/warden.yaml); see 'warden config check'")
	pf.StringVar(&g.dataDir, "data-dir", "", "directory for Warden's state and generated models (default $XDG_STATE_HOME/warden or ~/.local/state/warden)")
	pf.StringVar(&g.lock, "lock", "models.lock", "lockfile listing the models that may be loaded")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")

	root.AddCommand(newServeCommand(&g), newTokenCommand(&g), newKeysCommand(), newAuditCommand(&g), newConfigCommand(&g), newModelsCommand(&g), newTestModelCommand(), newBenchCommand(&g), newFitCommand(&g), newDevicesCommand(&g), newVersionCommand())
	root.AddCommand(newPsCommand(), newEngineProcessCommand(&g))
	return root
}

// logger builds the structured logger. It also sets the process default
// logger, which is what the llama.cpp bindings consult before printing
// llama.cpp's own log lines: they show at debug level only.
func (g *globalOptions) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch g.logFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
	}
	llamaLevel := slog.LevelWarn
	if level <= slog.LevelDebug {
		llamaLevel = slog.LevelInfo
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: llamaLevel})))
	return slog.New(h), nil
}

// openDataDir opens --data-dir, or the default one.
func (g *globalOptions) openDataDir() (store.Dir, error) {
	path := g.dataDir
	if path == "" {
		var err error
		if path, err = store.DefaultDir(); err != nil {
			return store.Dir{}, err
		}
	}
	return store.OpenDir(path)
}

// modelsDir is the data directory's models folder, where serve looks for
// pinned files and add and pull put them.
func (g *globalOptions) modelsDir() (string, error) {
	d, err := g.openDataDir()
	if err != nil {
		return "", err
	}
	return d.Models()
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Warden's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "warden %s (%s, %s/%s, llama.cpp via ollama v0.17.4)\n",
				version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}
