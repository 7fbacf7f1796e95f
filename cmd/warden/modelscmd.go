package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/warden-llm/warden/engine/gguf"
	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/models/trust"
)

func newModelsCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Pin, verify, list and remove the models in models.lock",
		Long: `models.lock lists the model files Warden may load, each pinned by SHA-256
and size together with what was reviewed: architecture, parameter count,
file type, context length, the chat template's hash, source, publisher,
license and approval. The schema is in docs/models-lock.md.

Review a model before you add it: "add" records that you approved this
exact file.`,
	}
	cmd.AddCommand(newModelsAddCommand(g), newModelsVerifyCommand(g), newModelsListCommand(g), newModelsRemoveCommand(g))
	cmd.AddCommand(newModelsPullCommand(g))
	return cmd
}

type addOptions struct {
	name, source, publisher, license, approvedBy string
}

func newModelsAddCommand(g *globalOptions) *cobra.Command {
	var o addOptions
	cmd := &cobra.Command{
		Use:   "add PATH",
		Short: "Hash a reviewed GGUF file and pin it in the lockfile",
		Long: `Add hashes the file (with a progress bar on a terminal), reads its
metadata through Warden's hardened GGUF parser, and writes its entry to the
lockfile, sorted by name. An entry of the same name is replaced: that is how
a reviewed update is approved.

--license defaults to the file's general.license when that is a valid SPDX
expression, --approved-by to your user name. --source must name an
immutable revision (a commit hash or digest), not a branch or "latest".`,
		Example: `  warden models add ./models/qwen2.5-0.5b-instruct-q4_k_m.gguf --name qwen2.5-0.5b \
    --source https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/<commit>/qwen2.5-0.5b-instruct-q4_k_m.gguf \
    --publisher Qwen --license Apache-2.0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runModelsAdd(cmd.Context(), g.lock, args[0], o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "name clients use in \"model\" (default: the file name without .gguf)")
	f.StringVar(&o.source, "source", "", "where the file comes from: URL or registry reference at an immutable revision")
	f.StringVar(&o.publisher, "publisher", "", "who published the weights")
	f.StringVar(&o.license, "license", "", "SPDX license expression (default: the file's general.license)")
	f.StringVar(&o.approvedBy, "approved-by", "", "who reviewed and approved the file (default: your user name)")
	return cmd
}

func runModelsAdd(ctx context.Context, lockPath, path string, o addOptions, stdout, stderr io.Writer) error {
	lock, err := lockfile.Read(lockPath)
	if errors.Is(err, fs.ErrNotExist) {
		lock, err = &lockfile.File{}, nil
	}
	if err != nil {
		return err
	}
	f, real, err := lockfile.OpenModel(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// The file may sit in a download folder now and be served from a
	// protected one later, so protection problems are only reported.
	prot, err := lockfile.CheckProtection(f, real, uint32(os.Geteuid()))
	if err != nil {
		fmt.Fprintf(stderr, "warning: %v\n         (warden serve will refuse the file until that is fixed)\n", err)
	}
	for _, w := range prot.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}

	size := fileSize(f)
	header, err := gguf.ReadModel(f, size)
	if err != nil {
		return fmt.Errorf("%s is not a valid GGUF file: %w", path, err)
	}
	bar := newProgressBar(stderr, "hashing "+filepath.Base(path), size)
	digest, err := lockfile.HashFile(ctx, f, bar.update)
	bar.finish()
	if err != nil {
		return err
	}

	entry, err := newEntry(path, digest, lockfile.Describe(header), o)
	if err != nil {
		return err
	}
	old, replaced := lock.Put(entry)
	if err := lockfile.Write(lockPath, lock); err != nil {
		return err
	}
	switch {
	case replaced && old.SHA256 == entry.SHA256:
		fmt.Fprintf(stdout, "re-approved %q in %s (same file):\n", entry.Name, lockPath)
	case replaced:
		fmt.Fprintf(stdout, "replaced %q in %s (sha256 %s → %s):\n", entry.Name, lockPath, old.SHA256, entry.SHA256)
	default:
		fmt.Fprintf(stdout, "added %q to %s:\n", entry.Name, lockPath)
	}
	out, err := yaml.Marshal([]lockfile.Entry{entry})
	if err != nil {
		return err
	}
	stdout.Write(out)
	if missing := entry.Missing(); len(missing) > 0 {
		fmt.Fprintf(stderr, "note: the entry does not record %s; pass the matching flags to complete the review record\n",
			strings.Join(missing, ", "))
	}
	return nil
}

// newEntry builds and validates the lockfile entry for a hashed file.
func newEntry(path string, d lockfile.Digest, m lockfile.Metadata, o addOptions) (lockfile.Entry, error) {
	base := filepath.Base(path)
	e := lockfile.Entry{
		Name:       o.name,
		File:       base,
		SHA256:     d.SHA256,
		Size:       d.Size,
		Source:     o.source,
		Publisher:  o.publisher,
		License:    o.license,
		ApprovedBy: o.approvedBy,
		ApprovedAt: time.Now().UTC().Truncate(time.Second).Format(time.RFC3339),
	}
	e.Fill(m)
	if e.Name == "" {
		e.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if e.License == "" && lockfile.ValidLicense(m.License) {
		e.License = m.License // the publisher's claim, shown for review below
	}
	if e.ApprovedBy == "" {
		if u, err := user.Current(); err == nil {
			e.ApprovedBy = u.Username
		}
	}
	if err := e.Validate(); err != nil {
		return lockfile.Entry{}, fmt.Errorf("cannot pin %s: %w", path, err)
	}
	return e, nil
}

func newModelsVerifyCommand(g *globalOptions) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "verify [NAME...]",
		Short: "Re-hash pinned model files and check them against the lockfile",
		Long: `Verify re-hashes the files of the named entries (default: all), never
trusting the verified-hash cache, and checks each file's size, SHA-256, GGUF
header and protection on disk as serve would. It exits non-zero if any model
fails, naming what differs: expected vs actual.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				d, err := g.openDataDir()
				if err != nil {
					return err
				}
				if dir, err = d.Models(); err != nil {
					return err
				}
			}
			return runModelsVerify(cmd.Context(), g.lock, dir, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "folder holding the model files (default: the data directory's models/)")
	return cmd
}

func runModelsVerify(ctx context.Context, lockPath, dir string, names []string, stdout, stderr io.Writer) error {
	lock, err := lockfile.Read(lockPath)
	if err != nil {
		return err
	}
	entries := lock.Models
	if len(names) > 0 {
		entries = nil
		for _, n := range names {
			e, err := lock.Lookup(n)
			if err != nil {
				return err
			}
			entries = append(entries, e)
		}
	}
	failed := 0
	for _, e := range entries {
		warnings, err := verifyEntry(ctx, e, filepath.Join(dir, e.File), stderr)
		for _, w := range warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL  %s: %v\n", e.Name, err)
			continue
		}
		fmt.Fprintf(stdout, "ok    %s  %s  %d bytes\n", e.Name, e.SHA256, e.Size)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d models failed verification", failed, len(entries))
	}
	return nil
}

// verifyEntry runs serve's checks on one file, hashing in full, with a
// progress bar on progress.
func verifyEntry(ctx context.Context, e lockfile.Entry, path string, progress io.Writer) ([]string, error) {
	var bar *progressBar
	warnings, err := trust.VerifyEntry(ctx, e, path, func(total int64) func(int64) {
		bar = newProgressBar(progress, "hashing "+e.Name, total)
		return bar.update
	})
	if bar != nil {
		bar.finish()
	}
	return warnings, err
}

func fileSize(f *os.File) int64 {
	info, err := f.Stat()
	if err != nil {
		return 0
	}
	return info.Size()
}

func newModelsListCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Show the pinned models as a table",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lock, err := lockfile.Read(g.lock)
			if err != nil {
				return err
			}
			return writeModelTable(cmd.OutOrStdout(), lock.Models)
		},
	}
}

func writeModelTable(w io.Writer, entries []lockfile.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFILE\tSIZE\tARCH\tPARAMS\tTYPE\tCONTEXT\tLICENSE\tAPPROVED BY\tSHA256")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			e.Name, e.File, humanBytes(e.Size), dash(e.Architecture), humanCount(e.Parameters),
			dash(e.FileType), humanCount(e.ContextLength), dash(e.License), dash(e.ApprovedBy), e.SHA256[:12])
	}
	return tw.Flush()
}

func newModelsRemoveCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a model's entry from the lockfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lock, err := lockfile.Read(g.lock)
			if err != nil {
				return err
			}
			if err := lock.Remove(args[0]); err != nil {
				return err
			}
			if err := lockfile.Write(g.lock, lock); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %q from %s\n", args[0], g.lock)
			return nil
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanBytes formats n in binary units, e.g. "591.2 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// humanCount formats n in decimal units, e.g. "1.1B"; 0 means unknown.
func humanCount(n uint64) string {
	switch {
	case n == 0:
		return "-"
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
