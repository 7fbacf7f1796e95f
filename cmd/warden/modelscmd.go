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
	"github.com/warden-llm/warden/models/volume"
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
	inPlace                                      bool
}

func newModelsAddCommand(g *globalOptions) *cobra.Command {
	var o addOptions
	cmd := &cobra.Command{
		Use:   "add PATH",
		Short: "Hash a reviewed GGUF file, place it where serve finds it, and pin it",
		Long: `Add reads the file's metadata through Warden's hardened GGUF parser,
copies it into the data directory's models folder (hashing the bytes as
they are written, with a progress bar on a terminal), and writes its entry
to the lockfile, sorted by name. "warden models verify" and
"warden serve --model NAME" then find the file with no other step.

The copy is atomic and read-only (mode 0440): a temporary file in the
models folder, synced, checked as serve checks it, then given its name. A
file already there under that name is never replaced: the same bytes are
accepted as they are, different ones are refused. A file that already lies
in the models folder is pinned where it is.

--in-place pins the file where it lies instead of copying it: the entry
records its absolute path, which serve and verify then read, and the file
must pass serve's protection checks there (not writable by group or
others, owned by root or you, folders above it too).

An entry of the same name is replaced: that is how a reviewed update is
approved. --license defaults to the file's general.license when that is a
valid SPDX expression, --approved-by to your user name. --source must name
an immutable revision (a commit hash or digest), not a branch or "latest".`,
		Example: `  warden models add ~/Downloads/qwen2.5-0.5b-instruct-q4_k_m.gguf --name qwen2.5-0.5b \
    --source https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/<commit>/qwen2.5-0.5b-instruct-q4_k_m.gguf \
    --publisher Qwen --license Apache-2.0
  warden models add /srv/models/big.gguf --name big --in-place`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runModelsAdd(cmd.Context(), g.lock, g.modelsDir, args[0], o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "name clients use in \"model\" (default: the file name without .gguf)")
	f.StringVar(&o.source, "source", "", "where the file comes from: URL or registry reference at an immutable revision")
	f.StringVar(&o.publisher, "publisher", "", "who published the weights")
	f.StringVar(&o.license, "license", "", "SPDX license expression (default: the file's general.license)")
	f.StringVar(&o.approvedBy, "approved-by", "", "who reviewed and approved the file (default: your user name)")
	f.BoolVar(&o.inPlace, "in-place", false, "pin the file where it lies (its absolute path goes in the entry) instead of copying it into the models folder")
	return cmd
}

// runModelsAdd places the file at path where serve finds it and pins it.
// modelsDir opens the data directory's models folder; it is called only
// once the file is known to be a model Warden can load.
func runModelsAdd(ctx context.Context, lockPath string, modelsDir func() (string, error), path string, o addOptions, stdout, stderr io.Writer) error {
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
	// Refuse what serve would refuse before copying gigabytes.
	if _, err := gguf.ReadModel(f, fileSize(f)); err != nil {
		return fmt.Errorf("%s is not a valid GGUF file: %w", path, err)
	}
	// Refuse bad flags before copying gigabytes too: with a placeholder
	// digest, only what the flags say can fail.
	if _, err := newEntry(path, lockfile.Digest{SHA256: strings.Repeat("0", 64), Size: 1}, lockfile.Metadata{}, o); err != nil {
		return err
	}
	p, err := placeModel(ctx, f, real, path, modelsDir, o.inPlace, stderr)
	if err != nil {
		return err
	}

	entry, err := newEntry(path, p.digest, p.meta, o)
	if err != nil {
		return err
	}
	entry.Path = p.record
	if err := entry.Validate(); err != nil {
		return fmt.Errorf("cannot pin %s: %w", path, err)
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
	fmt.Fprintf(stdout, "%s\n", p.note)
	if missing := entry.Missing(); len(missing) > 0 {
		fmt.Fprintf(stderr, "note: the entry does not record %s; pass the matching flags to complete the review record\n",
			strings.Join(missing, ", "))
	}
	return nil
}

// placed is a model file where serve will look for it.
type placed struct {
	record string // the entry's path: set only when pinned in place
	digest lockfile.Digest
	meta   lockfile.Metadata
	note   string // what was done, for the operator
}

// placeModel puts the open model file f (given as path, resolved to real)
// where serve finds it: where it lies with inPlace or when it already
// lies in the models folder, else a checked copy in the models folder.
// The digest and metadata returned are those of the file serve will read.
func placeModel(ctx context.Context, f *os.File, real, path string, modelsDir func() (string, error), inPlace bool, stderr io.Writer) (placed, error) {
	if inPlace {
		abs, err := filepath.Abs(path)
		if err != nil {
			return placed{}, err
		}
		p, err := pinWhereItLies(ctx, f, real, path, stderr)
		p.record = abs
		p.note = fmt.Sprintf("pinned in place: serve and verify read %s", abs)
		return p, err
	}
	dir, err := modelsDir()
	if err != nil {
		return placed{}, err
	}
	if inFolder(path, dir) {
		p, err := pinWhereItLies(ctx, f, real, path, stderr)
		p.note = fmt.Sprintf("already in the models folder %s: not copied", dir)
		return p, err
	}
	return copyIntoModels(ctx, f, path, dir, stderr)
}

// inFolder reports whether path names a file directly inside dir.
func inFolder(path, dir string) bool {
	a, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return false
	}
	b, err := os.Stat(dir)
	return err == nil && os.SameFile(a, b)
}

// pinWhereItLies hashes a file that will be served from where it is, so
// it must pass serve's protection checks there now.
func pinWhereItLies(ctx context.Context, f *os.File, real, path string, stderr io.Writer) (placed, error) {
	prot, err := lockfile.CheckProtection(f, real, uint32(os.Geteuid()))
	if err != nil {
		return placed{}, fmt.Errorf("refusing to pin %s where it lies, as serve would refuse it: %w", path, err)
	}
	for _, w := range prot.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	size := fileSize(f)
	bar := newProgressBar(stderr, "hashing "+filepath.Base(path), size)
	d, err := lockfile.HashFile(ctx, f, bar.update)
	bar.finish()
	if err != nil {
		return placed{}, err
	}
	// Read after hashing, with the hashed size, so that a file that grew
	// meanwhile fails here rather than pinning a header of other bytes.
	header, err := gguf.ReadModel(f, d.Size)
	if err != nil {
		return placed{}, fmt.Errorf("%s is not a valid GGUF file: %w", path, err)
	}
	return placed{digest: d, meta: lockfile.Describe(header)}, nil
}

// copyIntoModels copies f into the models folder dir under its base name.
// The copy is checked as serve checks it before it gets that name, and
// what is pinned is the digest and header of the copy.
func copyIntoModels(ctx context.Context, f *os.File, path, dir string, stderr io.Writer) (placed, error) {
	var meta lockfile.Metadata
	check := func(tmp *os.File, d lockfile.Digest) error {
		if _, err := lockfile.CheckProtection(tmp, tmp.Name(), uint32(os.Geteuid())); err != nil {
			return fmt.Errorf("the copy in %s would be refused by serve: %w", dir, err)
		}
		header, err := gguf.ReadModel(tmp, d.Size)
		if err != nil {
			return fmt.Errorf("%s is not a valid GGUF file: %w", path, err)
		}
		meta = lockfile.Describe(header)
		return nil
	}
	base := filepath.Base(path)
	bar := newProgressBar(stderr, "copying "+base, fileSize(f))
	in, err := lockfile.Install(ctx, f, dir, base, check, bar.update)
	bar.finish()
	if err != nil {
		return placed{}, err
	}
	note := fmt.Sprintf("copied to %s (mode 0440)", in.Path)
	if !in.Copied {
		note = fmt.Sprintf("%s already holds this file: not replaced", in.Path)
	}
	return placed{digest: in.Digest, meta: meta, note: note}, nil
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
	var requireArg []string
	cmd := &cobra.Command{
		Use:   "verify [NAME...]",
		Short: "Re-hash pinned model files and check them against the lockfile",
		Long: `Verify re-hashes the files of the named entries (default: all), never
trusting the verified-hash cache, and checks each file's size, SHA-256, GGUF
header and protection on disk as serve would. Files are looked for where
serve looks: an entry's recorded path (pinned with add --in-place), else
--dir (default: the data directory's models folder). It exits non-zero if
any model fails, naming what differs: expected vs actual. Each line also
says where the file lies: read_only_mount and encrypted_volume (yes, no,
or unknown and why); --models-require fails a model lacking what it
names, as serve would refuse it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			require, err := volume.ParseRequirements(requireArg)
			if err != nil {
				return fmt.Errorf("--models-require (models.require): %w", err)
			}
			if dir == "" {
				if dir, err = g.modelsDir(); err != nil {
					return err
				}
			}
			return runModelsVerify(cmd.Context(), g.lock, dir, args, require, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "folder holding the model files (default: the data directory's models/)")
	addRequireFlag(cmd.Flags(), &requireArg)
	return cmd
}

func runModelsVerify(ctx context.Context, lockPath, dir string, names []string, require []volume.Requirement, stdout, stderr io.Writer) error {
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
		path := e.Location(dir)
		found, err := verifyEntry(ctx, e, path, stderr)
		for _, w := range found.Warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		if err == nil {
			err = found.Placement.Check(path, require)
		}
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL  %s: %v\n", e.Name, err)
			continue
		}
		fmt.Fprintf(stdout, "ok    %s  %s  %d bytes  %s\n", e.Name, e.SHA256, e.Size, placementText(found.Placement))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d models failed verification", failed, len(entries))
	}
	return nil
}

// verifyEntry runs serve's checks on one file, hashing in full, with a
// progress bar on progress.
func verifyEntry(ctx context.Context, e lockfile.Entry, path string, progress io.Writer) (trust.Verified, error) {
	var bar *progressBar
	found, err := trust.VerifyEntry(ctx, e, path, func(total int64) func(int64) {
		bar = newProgressBar(progress, "hashing "+e.Name, total)
		return bar.update
	})
	if bar != nil {
		bar.finish()
	}
	return found, err
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
