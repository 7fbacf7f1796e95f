package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/warden-llm/warden/models/lockfile"
	"github.com/warden-llm/warden/models/pull"
)

type pullOptions struct {
	name       string
	sources    []string // the publishers allow-list, models.sources
	hub        string   // models.hub
	hubHosts   []string // models.hub_hosts
	noLock     bool
	approvedBy string
	modelsDir  string
}

func newModelsPullCommand(g *globalOptions) *cobra.Command {
	var o pullOptions
	cmd := &cobra.Command{
		Use:   "pull SOURCE|NAME",
		Short: "Download a GGUF file from an approved Hub publisher at a pinned commit",
		Long: `Pull downloads hf:ORG/REPO/PATH.gguf[@REVISION] from the Hugging Face Hub
(or the Hub that models.hub, else HF_ENDPOINT, names) into the models folder
and pins it in the lockfile.

  - ORG/REPO must match a pattern in models.sources (e.g. hf:Qwen/*); the
    list is empty by default, so nothing is pulled until someone decides
    whom to trust.
  - A branch or tag (default: main) is resolved once to its commit; the
    commit is what is downloaded and recorded: source hf:ORG/REPO/PATH@<commit>.
  - The file streams into a 0600 partial file in the models folder and is
    renamed into place read-only (0440) only if its size and SHA-256 equal
    the Hub's LFS metadata and, when the name is already pinned, the
    lockfile; otherwise it is deleted and the message says who disagreed.
    An interrupted download resumes (HTTP Range) and the whole file is
    hashed again.
  - Redirects are followed only to the Hub's own host and models.hub_hosts
    (default for huggingface.co: huggingface.co, hf.co and their subdomains,
    where its CDNs live).
  - Gated repositories: HF_TOKEN, else the file HF_TOKEN_PATH or
    $HF_HOME/token names. The token is never logged and goes to the Hub's
    host only.

A name not yet pinned gets a new lockfile entry (source, publisher = ORG,
license from the model card or the file, approved_by, approved_at) unless
--no-lock. A name already pinned is never replaced: the file must be the
pinned one. "warden models pull NAME" re-downloads a pinned entry from its
recorded source, at its recorded commit.`,
		Example: `  warden models pull hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf --name qwen2.5-0.5b \
    --allow-source 'hf:Qwen/*'
  warden models pull qwen2.5-0.5b      # restore the pinned file`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.modelsDir == "" {
				var err error
				if o.modelsDir, err = g.modelsDir(); err != nil {
					return err
				}
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			return runModelsPull(cmd.Context(), g.lock, args[0], o, log, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "lockfile name (default: the file name without .gguf)")
	f.StringSliceVar(&o.sources, "allow-source", nil, "approved publishers, patterns like hf:Qwen/* (models.sources; empty: none)")
	f.StringVar(&o.hub, "hub", "", "Hub URL, https unless loopback (models.hub; default $HF_ENDPOINT, else "+pull.DefaultEndpoint+")")
	f.StringSliceVar(&o.hubHosts, "hub-host", nil, "hosts the Hub may redirect downloads to, e.g. cdn.example.org or *.example.org (models.hub_hosts; default for huggingface.co: "+strings.Join(pull.DefaultHosts, ", ")+")")
	f.BoolVar(&o.noLock, "no-lock", false, "download and verify only; do not add a lockfile entry")
	f.StringVar(&o.approvedBy, "approved-by", "", "who reviewed and approved the file (default: your user name)")
	f.StringVar(&o.modelsDir, "dir", "", "folder to put the file in (default: the data directory's models/)")
	return cmd
}

func runModelsPull(ctx context.Context, lockPath, arg string, o pullOptions, log *slog.Logger, stdout, stderr io.Writer) error {
	lock, err := lockfile.Read(lockPath)
	if errors.Is(err, fs.ErrNotExist) {
		lock, err = &lockfile.File{}, nil
	}
	if err != nil {
		return err
	}
	src, pinned, err := pullTarget(lock, arg, o.name)
	if err != nil {
		return err
	}
	if err := src.Allowed(o.sources); err != nil {
		return err
	}
	client, err := newHubClient(o)
	if err != nil {
		return err
	}
	var bar *downloadBar
	res, err := client.Pull(ctx, pull.Request{
		Source:    src,
		ModelsDir: o.modelsDir,
		Pinned:    pinned,
		Log:       log,
		Progress: func(total int64) func(int64) {
			fmt.Fprintf(stderr, "downloading %s (%s)\n", src.At(""), humanBytes(total))
			bar = newDownloadBar(stderr, "downloading "+src.File(), total)
			return bar.update
		},
	})
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	if src.Revision != res.Source.Revision {
		fmt.Fprintf(stdout, "resolved %s to commit %s\n", src.RevisionOrMain(), res.Source.Revision)
	}
	if res.Existed {
		fmt.Fprintf(stdout, "%s is already in place and matches (sha256 %s)\n", res.Path, res.Digest.SHA256)
	} else {
		fmt.Fprintf(stdout, "verified %s: sha256 %s, %d bytes, as the Hub's LFS metadata says\n", res.Path, res.Digest.SHA256, res.Digest.Size)
	}
	if pinned != nil {
		fmt.Fprintf(stdout, "matches the lockfile entry %q; the lockfile is unchanged\n", pinned.Name)
		return nil
	}
	if o.noLock {
		fmt.Fprintf(stdout, "not pinned (--no-lock); pin it with: warden models add %s --source %s --publisher %s\n", res.Path, res.Source, src.Org)
		return nil
	}
	return pinPulled(lockPath, lock, res, o, stdout, stderr)
}

// pullTarget reads the argument: a source, or the name of an entry whose
// recorded source (at its recorded commit) is pulled again.
func pullTarget(lock *lockfile.File, arg, name string) (pull.Source, *lockfile.Entry, error) {
	if !strings.HasPrefix(arg, pull.Scheme) {
		e, err := lock.Lookup(arg)
		if err != nil {
			return pull.Source{}, nil, fmt.Errorf("%q is neither a source (%sORG/REPO/PATH.gguf[@REVISION]) nor a name in the lockfile: %w", arg, pull.Scheme, err)
		}
		src, err := pull.ParseSource(e.Source)
		if err != nil {
			return pull.Source{}, nil, fmt.Errorf("entry %q has no Hub source to pull from: %w", e.Name, err)
		}
		if !src.Pinned() {
			return pull.Source{}, nil, fmt.Errorf("entry %q: source %s is not at a commit hash", e.Name, e.Source)
		}
		return src, &e, nil
	}
	src, err := pull.ParseSource(arg)
	if err != nil {
		return pull.Source{}, nil, err
	}
	if name == "" {
		name = strings.TrimSuffix(src.File(), ".gguf")
	}
	e, err := lock.Lookup(name)
	if err != nil {
		return src, nil, nil // a new name
	}
	return src, &e, nil
}

func newHubClient(o pullOptions) (*pull.Client, error) {
	endpoint := pull.Endpoint(o.hub)
	hosts := o.hubHosts
	if len(hosts) == 0 && strings.TrimRight(endpoint, "/") == pull.DefaultEndpoint {
		hosts = pull.DefaultHosts
	}
	return pull.NewClient(endpoint, hosts, pull.Token())
}

// pinPulled writes the lockfile entry of a newly pulled file.
func pinPulled(lockPath string, lock *lockfile.File, res pull.Result, o pullOptions, stdout, stderr io.Writer) error {
	m := lockfile.Describe(res.Header)
	license := spdxLicense(res.License)
	if license == "" && lockfile.ValidLicense(m.License) {
		license = m.License
	}
	entry, err := newEntry(res.Path, res.Digest, m, addOptions{
		name: o.name, source: res.Source.String(), publisher: res.Source.Org, license: license, approvedBy: o.approvedBy,
	})
	if err != nil {
		return err
	}
	if _, err := lock.Lookup(entry.Name); err == nil {
		// Raced with another writer: never replace a pin silently.
		return fmt.Errorf("%q was pinned meanwhile; the lockfile is unchanged", entry.Name)
	}
	lock.Put(entry)
	if err := lockfile.Write(lockPath, lock); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %q to %s:\n", entry.Name, lockPath)
	out, err := yaml.Marshal([]lockfile.Entry{entry})
	if err != nil {
		return err
	}
	stdout.Write(out)
	if missing := entry.Missing(); len(missing) > 0 {
		fmt.Fprintf(stderr, "note: the entry does not record %s\n", strings.Join(missing, ", "))
	}
	return nil
}

// spdxLicense turns a model card's license (Hub ids are lower case, e.g.
// apache-2.0) into an SPDX id where it knows it; "other" and unknown
// values give "", so the file's general.license or nothing is used.
func spdxLicense(card string) string {
	known := map[string]string{
		"apache-2.0": "Apache-2.0", "mit": "MIT", "bsd-3-clause": "BSD-3-Clause", "bsd-2-clause": "BSD-2-Clause",
		"cc-by-4.0": "CC-BY-4.0", "cc-by-sa-4.0": "CC-BY-SA-4.0", "cc-by-nc-4.0": "CC-BY-NC-4.0",
		"gpl-3.0": "GPL-3.0-only", "lgpl-3.0": "LGPL-3.0-only", "mpl-2.0": "MPL-2.0",
		"llama2": "LicenseRef-llama2", "llama3": "LicenseRef-llama3", "llama3.1": "LicenseRef-llama3.1",
		"llama3.2": "LicenseRef-llama3.2", "llama3.3": "LicenseRef-llama3.3", "gemma": "LicenseRef-gemma",
	}
	if id, ok := known[strings.ToLower(card)]; ok {
		return id
	}
	return ""
}

// downloadBar is the hashing progress bar, with the non-terminal line
// interval adjustable so that tests need not wait for it.
type downloadBar struct {
	*progressBar
	every time.Duration
}

// pullLogEvery is how often a non-terminal progress line is written.
var pullLogEvery = barLogEvery

func newDownloadBar(w io.Writer, label string, total int64) *downloadBar {
	return &downloadBar{progressBar: newProgressBar(w, label, total), every: pullLogEvery}
}

func (b *downloadBar) update(done int64) {
	now := time.Now()
	if b.term {
		// The hashing bar's GB/s reads 0.0 at network speeds: show bytes/s.
		if now.Sub(b.last) >= barRedraw || done == b.total {
			rate := ""
			if s := now.Sub(b.start).Seconds(); s > 0 {
				rate = "  " + humanBytes(int64(float64(done)/s)) + "/s"
			}
			fmt.Fprintf(b.w, "\r%s%s   ", renderBar(b.label, done, b.total, 0), rate)
			b.drawn, b.last = true, now
		}
		return
	}
	if now.Sub(b.last) >= b.every {
		fmt.Fprintf(b.w, "%s: %d%% (%s of %s)\n", b.label, percent(done, b.total), humanBytes(done), humanBytes(b.total))
		b.last = now
	}
}
