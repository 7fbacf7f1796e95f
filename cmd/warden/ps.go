package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-llm/warden/engine/fit"
	"github.com/warden-llm/warden/server"
)

type psOptions struct {
	url     string
	token   string
	timeout time.Duration
}

func newPsCommand() *cobra.Command {
	var o psOptions
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "Show the models a running server has loaded, with their memory and slots",
		Long: `ps asks a running Warden server (GET /admin/models) which models it has
loaded and prints, for each, its file's SHA-256 prefix, the memory llama.cpp
allocated (weights, KV cache, compute buffers), the context per request,
the sequences decoded together and how many are busy, the requests waiting,
the share of KV cache cells in use, and when it was loaded.

It needs a token with the admin role, from --token or $WARDEN_TOKEN.`,
		Example: `  export WARDEN_TOKEN=$(warden token issue --sub ops --role admin)
  warden ps
  warden ps --url https://warden.internal:8443`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPs(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "http://127.0.0.1:8080", "base URL of the running server")
	// The token's default is read at run time, so that --help never prints it.
	f.StringVar(&o.token, "token", "", "bearer token with the admin role (default $WARDEN_TOKEN)")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the server's answer")
	return cmd
}

// psModel is an entry of GET /admin/models, as far as ps shows it.
type psModel struct {
	Name     string             `json:"name"`
	SHA256   string             `json:"sha256"`
	Context  int                `json:"context"`
	LoadedAt int64              `json:"loaded_at"`
	Stats    *server.ModelStats `json:"stats"`
}

func runPs(ctx context.Context, out io.Writer, o psOptions) error {
	token := cmp.Or(o.token, os.Getenv("WARDEN_TOKEN"))
	if token == "" {
		return errors.New("warden ps needs a token with the admin role: pass --token or set WARDEN_TOKEN (warden token issue --sub you --role admin makes one)")
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	list, err := fetchModels(ctx, o.url, token)
	if err != nil {
		return err
	}
	if err := printModels(out, list.Data, time.Now()); err != nil {
		return err
	}
	printEngines(out, list.Data)
	if k := list.CPUKernels; k != nil {
		fmt.Fprintf(out, "\nCPU kernels: %s (%s)\n", k.Variant, strings.Join(k.Features, ", "))
	}
	if line := embeddingLine(list); line != "" {
		fmt.Fprintln(out, line)
	}
	return nil
}

// embeddingLine names the document base's embedding model, and says when
// it is not loaded (an admin unloaded it, or the lockfile dropped it), as
// indexing and search then fail; "" when the document base is off.
func embeddingLine(list psList) string {
	name := list.EmbeddingModel
	if name == "" {
		return ""
	}
	for _, m := range list.Data {
		if m.Name == name {
			return "Document base embedding model: " + name
		}
	}
	return "Document base embedding model: " + name + " (NOT LOADED: indexing and search answer 503)"
}

// fetchModels reads GET /admin/models from the server at base.
func fetchModels(ctx context.Context, base, token string) (psList, error) {
	url := strings.TrimSuffix(base, "/") + "/admin/models"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return psList{}, fmt.Errorf("--url %q: %w", base, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return psList{}, fmt.Errorf("is warden serve running at %s? %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return psList{}, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return psList{}, fmt.Errorf("GET %s: %s: %s", url, resp.Status, cmp.Or(e.Error.Message, "(no explanation)"))
	}
	var list psList
	if err := json.Unmarshal(body, &list); err != nil {
		return psList{}, fmt.Errorf("GET %s: not a model list: %w", url, err)
	}
	return list, nil
}

// psList is GET /admin/models' answer.
type psList struct {
	Data           []psModel              `json:"data"`
	CPUKernels     *server.CPUKernelsJSON `json:"cpu_kernels"`
	EmbeddingModel string                 `json:"embedding_model"` // the document base's; "": off
}

// printModels writes one row per model; columns an engine cannot report
// show "-".
func printModels(w io.Writer, models []psModel, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSHA256\tWEIGHTS\tKV CACHE\tCOMPUTE\tCONTEXT\tPARALLEL\tBUSY\tQUEUED\tKV USED\tLOADED")
	for _, m := range models {
		sha := cmp.Or(m.SHA256, "-")
		sha = sha[:min(len(sha), 12)]
		cols := []string{m.Name, sha, "-", "-", "-", strconv.Itoa(m.Context), "-", "-", "-", "-", ago(time.Unix(m.LoadedAt, 0), now)}
		if st := m.Stats; st != nil {
			cols[2], cols[3], cols[4] = fit.FormatBytes(st.Memory.Weights), fit.FormatBytes(st.Memory.KV), fit.FormatBytes(st.Memory.Compute)
			cols[6], cols[7], cols[8] = strconv.Itoa(st.Parallel), strconv.Itoa(st.SlotsBusy), strconv.Itoa(st.QueueDepth)
			if st.KVCells > 0 {
				cols[9] = strconv.Itoa(100*st.KVCellsUsed/st.KVCells) + "%"
			}
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	return tw.Flush()
}

// printEngines writes, for each model whose engine runs in a process of
// its own, that process's state, restarts and sandbox.
func printEngines(w io.Writer, models []psModel) {
	for _, m := range models {
		if m.Stats == nil || m.Stats.Engine == nil {
			continue
		}
		e := m.Stats.Engine
		fmt.Fprintf(w, "\nEngine of %s: pid %d, %s, %d restarts, %d crashes", m.Name, e.PID, e.State, e.Restarts, e.Crashes)
		if e.LastExit != "" {
			fmt.Fprintf(w, " (last: %s)", e.LastExit)
		}
		fmt.Fprintf(w, "\n  sandbox %s\n", describeSandbox(e.Sandbox))
	}
}

// ago says how long before now t was, in the largest whole unit.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	unit := func(n int, name string) string {
		if n == 1 {
			return "1 " + name + " ago"
		}
		return strconv.Itoa(n) + " " + name + "s ago"
	}
	switch {
	case d < time.Minute:
		return unit(max(0, int(d/time.Second)), "second")
	case d < time.Hour:
		return unit(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return unit(int(d/time.Hour), "hour")
	}
	return unit(int(d/(24*time.Hour)), "day")
}
