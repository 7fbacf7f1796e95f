package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newConfigCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check the configuration"}
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration serve would run with, and print it with each value's source",
		Long: `check reads the configuration file (--config, $WARDEN_CONFIG, or the first
of ./warden.yaml, ~/.config/warden/warden.yaml, /etc/warden/warden.yaml) and
the WARDEN_* environment, applies them to serve's settings exactly as serve
would, validates the result, and prints every key with its value and where
the value comes from: flag, env, file or default. It exits non-zero, naming
the key, on an unknown key or an invalid value. Keys and secrets are never
configuration values, only the files holding them; credentials in URLs are
redacted.

Precedence: command-line flags, then WARDEN_* variables (WARDEN_SERVER_PORT
for server.port; lists separated by ";"), then the file, then defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var o serveOptions
			serve := serveCommand(g, &o)
			if err := serve.ParseFlags(nil); err != nil {
				return err
			}
			serve.Flags().AddFlagSet(cmd.Root().PersistentFlags())
			if err := g.cfg.apply(serve); err != nil {
				return err
			}
			if err := o.validate(); err != nil {
				return fmt.Errorf("invalid configuration: %w", err)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			file := g.cfg.path
			if file == "" {
				file = "(none found)"
			}
			fmt.Fprintf(w, "# configuration file: %s\n", file)
			fmt.Fprintln(w, "KEY\tVALUE\tSOURCE")
			for _, e := range g.cfg.effective(serve) {
				fmt.Fprintf(w, "%s\t%s\t%s\n", e.Key, e.Value, e.Source)
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(check)
	return cmd
}
