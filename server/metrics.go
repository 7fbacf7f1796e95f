package server

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/warden-llm/warden/auth"
	"github.com/warden-llm/warden/engine"
	"github.com/warden-llm/warden/store/audit"
)

// MetricsOpen as Config.MetricsRole serves /metrics without a token.
const MetricsOpen auth.Role = "none"

// metrics are the series a Server exports on /metrics. Each Server has
// its own registry: nothing global is touched, and tests run servers side
// by side. Counters and histograms are updated as requests end; the
// gauges of models and of the audit log are read when scraped.
type metrics struct {
	registry     *prometheus.Registry
	requests     *prometheus.CounterVec
	promptTokens *prometheus.CounterVec
	outputTokens *prometheus.CounterVec
	ttft         *prometheus.HistogramVec
	tokenLatency *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	guardEvents  *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_http_requests_total",
			Help: "HTTP requests answered, by route pattern, status and model.",
		}, []string{"endpoint", "status", "model"}),
		promptTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_prompt_tokens_total",
			Help: "Prompt tokens evaluated, by model.",
		}, []string{"model"}),
		outputTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_completion_tokens_total",
			Help: "Completion tokens generated, by model.",
		}, []string{"model"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "warden_time_to_first_token_seconds",
			Help:    "Time from a request's arrival to its first generated text, queueing included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14), // 10 ms to 82 s
		}, []string{"model"}),
		tokenLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "warden_time_per_output_token_seconds",
			Help:    "Mean time between generated tokens after the first, one observation per request.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms to 8 s
		}, []string{"model"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_auth_failures_total",
			Help: "Requests refused with 401, by reason.",
		}, []string{"reason"}),
		guardEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_guard_events_total",
			Help: "Guard findings (injection, invisible text, leaks, system messages), by kind and the action taken.",
		}, []string{"kind", "action"}),
	}
	m.registry.MustRegister(m.requests, m.promptTokens, m.outputTokens, m.ttft, m.tokenLatency, m.authFailures, m.guardEvents,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "warden_build_info",
			Help:        "Always 1; the version is a label.",
			ConstLabels: prometheus.Labels{"version": s.cfg.Version},
		}, func() float64 { return 1 }),
		modelCollector{s.models},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if k := s.cfg.CPUKernels; k.Variant != "" {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "warden_cpu_kernels_info",
			Help:        "Always 1; which CPU kernels run (a variant library chosen for this CPU, or built-in) and the CPU features they use are labels.",
			ConstLabels: prometheus.Labels{"variant": k.Variant, "features": strings.Join(k.Features, ",")},
		}, func() float64 { return 1 }))
	}
	if a, ok := s.cfg.Audit.(auditStats); ok {
		m.registry.MustRegister(auditCollectors(a)...)
	}
	return m
}

// serveMetrics builds the server's metrics and routes GET /metrics for
// the role cfg.MetricsRole names (admin when empty).
func (s *Server) serveMetrics(e *echo.Echo) error {
	s.metrics = newMetrics(s)
	h := echo.WrapHandler(promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{
		ErrorLog: promLogger{s}, Registry: s.metrics.registry,
	}))
	role := cmp.Or(s.cfg.MetricsRole, auth.RoleAdmin)
	if err := checkMetricsRole(role); err != nil {
		return err
	}
	if role == MetricsOpen {
		e.GET("/metrics", h)
	} else {
		e.GET("/metrics", h, s.authenticate, require(role))
	}
	return nil
}

// MetricsRoles lists what Config.MetricsRole may be, the default first:
// a role, or MetricsOpen. It is the one list that parsing, validation and
// the configuration's allowed values come from.
func MetricsRoles() []auth.Role {
	return []auth.Role{auth.RoleAdmin, auth.RoleAuditor, auth.RoleUser, MetricsOpen}
}

// ParseMetricsRole reads the role /metrics needs as a command line or a
// configuration file gives it: a role, or "none" for MetricsOpen. Parse
// a setting once, where it is read, and pass the auth.Role on.
func ParseMetricsRole(s string) (auth.Role, error) {
	r := auth.Role(s)
	if err := checkMetricsRole(r); err != nil {
		return "", err
	}
	return r, nil
}

// checkMetricsRole reports whether r is one of MetricsRoles.
func checkMetricsRole(r auth.Role) error {
	roles := MetricsRoles()
	if slices.Contains(roles, r) {
		return nil
	}
	names := make([]string, len(roles))
	for i, role := range roles {
		names[i] = string(role)
	}
	return fmt.Errorf("metrics role %q: want %s or %s", string(r), strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

// promLogger hands the metrics handler's errors to the server's log.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Error("metrics: " + fmt.Sprint(v...)) }

// record counts a finished request. Labels stay bounded whatever clients
// send: the endpoint is the route template or "unmatched", never the raw
// path nor a catch-all's pattern, and a model is named only while it is
// loaded.
func (m *metrics) record(x *exchange, endpoint, model string, end time.Time) {
	m.requests.WithLabelValues(endpoint, strconv.Itoa(x.status), model).Inc()
	if x.authFailure != "" {
		m.authFailures.WithLabelValues(string(x.authFailure)).Inc()
	}
	if x.guard != nil {
		for _, ev := range x.guard.events {
			m.guardEvents.WithLabelValues(string(ev.Kind), string(ev.Action)).Inc()
		}
	}
	res := x.result
	if res.PromptTokens > 0 {
		m.promptTokens.WithLabelValues(model).Add(float64(res.PromptTokens))
	}
	if res.CompletionTokens > 0 {
		m.outputTokens.WithLabelValues(model).Add(float64(res.CompletionTokens))
	}
	if x.firstToken.IsZero() {
		return
	}
	m.ttft.WithLabelValues(model).Observe(x.firstToken.Sub(x.start).Seconds())
	if n := res.CompletionTokens; n > 1 {
		m.tokenLatency.WithLabelValues(model).Observe(end.Sub(x.firstToken).Seconds() / float64(n-1))
	}
}

// modelCollector reads the loaded models' gauges when scraped, so they
// follow loads and unloads and never go stale.
type modelCollector struct{ models *registry }

func modelDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("warden_model_"+name, help, append([]string{"model"}, labels...), nil)
}

var (
	descLoaded     = modelDesc("loaded_timestamp_seconds", "When the model was loaded, in Unix time.")
	descLoadTime   = modelDesc("load_duration_seconds", "How long loading the weights and setting up the context took.")
	descSlots      = modelDesc("slots", "Sequences decoded together (--parallel).")
	descSlotsBusy  = modelDesc("slots_busy", "Sequences running a request.")
	descWaiting    = modelDesc("queue_depth", "Requests admitted and waiting for a sequence.")
	descQueueLimit = modelDesc("queue_limit", "Most requests that may wait; more get 429.")
	descKVCells    = modelDesc("kv_cache_cells", "KV cache cells, all sequences together.")
	descKVUsed     = modelDesc("kv_cache_cells_used", "KV cache cells holding tokens, prefixes kept for reuse included.")
	descMemory     = modelDesc("memory_bytes", "Memory allocated for the model, by kind: weights, kv or compute.", "kind")

	// Models whose engine runs in a process of its own (engine/runner).
	descEngineUp       = modelDesc("engine_up", "1 while the model's engine process is running, 0 while it restarts.")
	descEngineRestarts = modelDesc("engine_restarts_total", "Times the model's engine process was started again after it died.")
	descEngineCrashes  = modelDesc("engine_crashes_total", "Engine processes of the model that died unasked, failed restarts included.")
	descEngineSandbox  = modelDesc("engine_sandbox", "1 for each confinement measure in force in the model's engine process, 0 for one that is not.", "measure")
)

func (modelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLoaded, descLoadTime, descSlots, descSlotsBusy, descWaiting,
		descQueueLimit, descKVCells, descKVUsed, descMemory, descEngineUp, descEngineRestarts, descEngineCrashes, descEngineSandbox} {
		ch <- d
	}
}

func (c modelCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, info := range c.models.list() {
		name := info.Name
		gauge(descLoaded, float64(info.Created), name)
		st, ok := c.models.stats(name)
		if !ok {
			continue
		}
		gauge(descLoadTime, st.LoadTime.Seconds(), name)
		gauge(descSlots, float64(st.Parallel), name)
		gauge(descSlotsBusy, float64(st.Busy), name)
		gauge(descWaiting, float64(st.Waiting), name)
		gauge(descQueueLimit, float64(st.QueueLimit), name)
		gauge(descKVCells, float64(st.KVCells), name)
		gauge(descKVUsed, float64(st.KVCellsUsed), name)
		gauge(descMemory, float64(st.Memory.Weights), name, "weights")
		gauge(descMemory, float64(st.Memory.KV), name, "kv")
		gauge(descMemory, float64(st.Memory.Compute), name, "compute")
		if p := st.Process; p != nil {
			collectProcess(ch, name, p)
		}
	}
}

// collectProcess exports what an engine process's supervisor reports.
func collectProcess(ch chan<- prometheus.Metric, name string, p *engine.Process) {
	up := 0.0
	if p.State == engine.ProcessRunning {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descEngineUp, prometheus.GaugeValue, up, name)
	ch <- prometheus.MustNewConstMetric(descEngineRestarts, prometheus.CounterValue, float64(max(0, p.Starts-1)), name)
	ch <- prometheus.MustNewConstMetric(descEngineCrashes, prometheus.CounterValue, float64(p.Crashes), name)
	for _, m := range p.Sandbox {
		v := 0.0
		if m.InForce {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descEngineSandbox, prometheus.GaugeValue, v, name, m.Name)
	}
}

// auditStats is an audit log that can tell how its writer is doing, as
// audit.Log does.
type auditStats interface{ Stats() audit.Stats }

func auditCollectors(a auditStats) []prometheus.Collector {
	gauge := func(name, help string, f func(audit.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(a.Stats()) })
	}
	counter := func(name, help string, f func(audit.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(a.Stats()) })
	}
	return []prometheus.Collector{
		gauge("warden_audit_queue_depth", "Audit records accepted and not yet written.",
			func(s audit.Stats) float64 { return float64(s.Queued) }),
		gauge("warden_audit_queue_capacity", "Most audit records that may wait for the writer.",
			func(s audit.Stats) float64 { return float64(s.QueueSize) }),
		gauge("warden_audit_failing", "1 while the audit store cannot be written, else 0.",
			func(s audit.Stats) float64 { return bool01(s.Failing) }),
		counter("warden_audit_write_errors_total", "Audit write transactions that failed, retries included.",
			func(s audit.Stats) float64 { return float64(s.WriteErrors) }),
		counter("warden_audit_dropped_total", "Audit records dropped while failing open.",
			func(s audit.Stats) float64 { return float64(s.Dropped) }),
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
