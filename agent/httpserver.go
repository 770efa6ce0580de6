package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPConfig is the `http:` block: the operator's endpoints.
type HTTPConfig struct {
	// Listen is where /metrics, /healthz and /readyz are served; default
	// 127.0.0.1:9464 (loopback: expose it deliberately, e.g. 0.0.0.0:9464
	// in a container). "off" disables it.
	Listen string `yaml:"listen"`
}

const defaultListen = "127.0.0.1:9464"

// healthChecker is an output that can say it is in trouble.
type healthChecker interface {
	Health() error
}

// ops serves the operator's endpoints for one agent.
type ops struct {
	a       *Agent
	ready   atomic.Bool
	outputs atomic.Pointer[[]*outputRun]
	srv     *http.Server
	ln      net.Listener
}

// serve starts the endpoints on listen; the returned ops stops them.
func (a *Agent) serve(listen string) (*ops, error) {
	o := &ops{a: a}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", o.readyz)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", listen, err)
	}
	if host, _, _ := net.SplitHostPort(listen); host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			a.log.Warn("metrics and health endpoints listen beyond loopback", "listen", listen)
		}
	} else {
		a.log.Warn("metrics and health endpoints listen on every interface", "listen", listen)
	}
	o.ln = ln
	o.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go o.srv.Serve(ln)
	a.log.Info("serving /metrics, /healthz, /readyz", "addr", ln.Addr().String())
	return o, nil
}

// readyz: 200 once the config, the context and every output are in
// place, no output's buffer is near its bound and no pipeline waits for
// its monitor state to be stored; 503 with the reasons otherwise.
func (o *ops) readyz(w http.ResponseWriter, r *http.Request) {
	var problems []string
	if !o.ready.Load() {
		problems = append(problems, "starting: config, context or outputs not loaded yet")
	}
	if h := o.a.stateHeld.Load(); h != nil {
		problems = append(problems, fmt.Sprintf("pipeline %s: monitor state not stored for %s (%v): the pipeline waits, nothing is lost; free space under data_dir",
			h.pipeline, time.Since(h.since).Round(time.Second), h.err))
	}
	var outs []*outputRun
	if p := o.outputs.Load(); p != nil {
		outs = *p
	}
	var failing []string
	for _, out := range outs {
		if hc, ok := out.out.(healthChecker); ok {
			if err := hc.Health(); err != nil {
				problems = append(problems, "output "+out.name+": "+err.Error())
			}
		}
		if d, ok := out.out.(deliveryOutput); ok {
			if f := failingFor(out.name, d); f != "" {
				failing = append(failing, f)
			}
		}
	}
	// A destination that is down does not make the agent unready while
	// its buffer takes the records; the body says which one, since when.
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(append(problems, failing...), "\n"))
		return
	}
	fmt.Fprintln(w, strings.Join(append([]string{"ready"}, failing...), "\n"))
}

// failingFor describes an output whose destination is failing: for how
// long, how many requests in a row, its last success and the oldest
// buffered record's age; "" when its last request succeeded.
func failingFor(name string, d deliveryOutput) string {
	st := d.Stats()
	since := st.FailingSince.Load()
	if since == 0 {
		return ""
	}
	last := "never since start"
	if ls := st.LastSuccess.Load(); ls != 0 {
		last = time.Unix(0, ls).UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("output %s: destination failing for %s (%d requests in a row; last success %s; oldest buffered record %s old)",
		name, time.Since(time.Unix(0, since)).Round(time.Second), st.ConsecutiveFailures.Load(), last, d.OldestBuffered().Round(time.Second))
}

func (o *ops) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := o.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		o.a.log.Warn("http server shutdown", "err", err)
	}
}

// Addr is where the endpoints listen (useful with port 0).
func (o *ops) Addr() string { return o.ln.Addr().String() }
