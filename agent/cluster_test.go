package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/monitor"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	clusterTopic     = "privtrail-records"
	clusterUser      = "privtrail"
	clusterPassword  = "s3cret-kafka-password"
	clusterPartitons = 4
)

// graphSignIn is a Graph sign-in of user at minute offset at; errorCode 50126
// is a wrong password.
func graphSignIn(id, user string, at time.Duration, errorCode int) []byte {
	t := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).Add(at)
	return fmt.Appendf(nil, `{"id":%q,"createdDateTime":%q,"userId":"%s-id","userPrincipalName":"%s@contoso.example","status":{"errorCode":%d},"isInteractive":true,"clientAppUsed":"Browser","ipAddress":"203.0.113.9"}`+"\n",
		id, t.Format(time.RFC3339Nano), user, user, errorCode)
}

// burstUsers returns one privileged user per partition of the records
// topic, as the collector's producer partitions them (Kafka's murmur2 of
// the user key), so that whichever partitions a rebalance moves, some
// burst moves with them.
func burstUsers(t *testing.T) []string {
	t.Helper()
	p := kgo.StickyKeyPartitioner(nil).ForTopic(clusterTopic)
	users := make([]string, clusterPartitons)
	for k := 0; slices.Contains(users, ""); k++ {
		u := fmt.Sprintf("adm_%d", k)
		if i := p.Partition(&kgo.Record{Key: []byte(u + "-id")}, clusterPartitons); users[i] == "" {
			users[i] = u
		}
		if k > 1000 {
			t.Fatal("no user found for every partition")
		}
	}
	return users
}

type clusterRig struct {
	t       *testing.T
	dir     string
	brokers string
	spool   string // the collector's input folder
}

func (c *clusterRig) config(name, text string) *Config {
	c.t.Helper()
	dir := filepath.Join(c.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	kafka := `
  kafka:
    brokers: [` + c.brokers + `]
    topic: ` + clusterTopic + `
    flush_interval: 20ms
    sasl:
      mechanism: scram-sha-512
      username: ` + clusterUser + `
      password: ${PRIVTRAIL_TEST_KAFKA_PASSWORD}
`
	path := filepath.Join(dir, "privtrail.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "{kafka}", kafka)), 0o600); err != nil {
		c.t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		c.t.Fatal(err)
	}
	return cfg
}

func (c *clusterRig) start(cfg *Config) (a *Agent, stop func()) {
	c.t.Helper()
	a = New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.Drain = 2 * time.Second
	return a, runAgent(c.t, a)
}

// delivered reads the processors' outputs: how many times each record
// arrived, and the records carrying the brute-force alert.
func (c *clusterRig) delivered(procs ...string) (times map[string]int, alerted []string) {
	c.t.Helper()
	times = map[string]int{}
	for _, p := range procs {
		path := filepath.Join(c.dir, p, "out.jsonl")
		if _, err := os.Stat(path); err != nil {
			continue
		}
		ids, _ := alerts(c.t, path, "signin.bad_password_threshold")
		alerted = append(alerted, ids...)
		data, err := os.ReadFile(path)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			if i := bytes.Index(line, []byte(`"id":"`)); i >= 0 {
				id, _, _ := strings.Cut(string(line[i+6:]), `"`)
				times[id]++
			}
		}
	}
	slices.Sort(alerted)
	return times, alerted
}

// Scaling out: a collector publishes records keyed by user; two processors
// share them in one consumer group. A second processor joins in the middle
// of four brute-force bursts (one per partition), then the first leaves:
// the partitions move twice with their monitor state, through the
// changelog topic. Every burst still gives exactly one alert, on its fifth
// wrong password, and every record is delivered once.
func TestProcessorsShareStateAcrossRebalances(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(clusterPartitons, clusterTopic),
		kfake.GroupMinSessionTimeout(100*time.Millisecond), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", clusterUser, clusterPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("PRIVTRAIL_TEST_KAFKA_PASSWORD", clusterPassword)
	rig := &clusterRig{t: t, dir: t.TempDir(), brokers: strings.Join(c.ListenAddrs(), ",")}
	rig.spool = filepath.Join(rig.dir, "spool")
	if err := os.MkdirAll(rig.spool, 0o700); err != nil {
		t.Fatal(err)
	}
	users := burstUsers(t)
	var roleMap strings.Builder
	roleMap.WriteString("users:\n")
	for _, u := range users {
		fmt.Fprintf(&roleMap, "  - {id: %s-id, upn: %s@contoso.example, roles: [{name: Global Administrator}]}\n", u, u)
	}
	shared := filepath.Join(rig.dir, "shared")
	if err := os.MkdirAll(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"rolemap.yaml": roleMap.String(), "brute.yaml": bruteForcePipeline} {
		if err := os.WriteFile(filepath.Join(shared, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// Phases of the bursts: wrong passwords 0-2, 3-5, 6-29 of every
	// burst user, 20 s apart, with ordinary users' sign-ins between.
	var all []string
	phase := func(n int, from, to int) {
		var b bytes.Buffer
		for i := from; i < to; i++ {
			for _, u := range users {
				id := fmt.Sprintf("%s-pw-%02d", u, i)
				b.Write(graphSignIn(id, u, time.Duration(i)*20*time.Second, 50126))
				all = append(all, id)
			}
			for j := range 20 {
				id := fmt.Sprintf("user_%d-%02d", j, i)
				b.Write(graphSignIn(id, fmt.Sprintf("user_%d", j), time.Duration(i)*20*time.Second+time.Second, 0))
				all = append(all, id)
			}
		}
		// Written aside and renamed: the collector never sees half a file.
		tmp := filepath.Join(rig.dir, fmt.Sprintf("phase%d.tmp", n))
		if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(rig.spool, fmt.Sprintf("phase%d.jsonl", n))); err != nil {
			t.Fatal(err)
		}
	}
	waitDelivered := func(what string) {
		t.Helper()
		waitUntil(t, what, func() bool {
			times, _ := rig.delivered("p1", "p2")
			for _, id := range all {
				if times[id] == 0 {
					return false
				}
			}
			return true
		})
	}

	collector := rig.config("collector", `data_dir: data
cluster:
  role: collector
{kafka}
inputs:
  - name: spool
    file: {paths: [`+rig.spool+`], watch: 50ms}
`)
	processor := func(name string) *Config {
		return rig.config(name, `data_dir: data
cluster:
  role: processor
  consumer_group: processors
  rebalance_wait: 5s
{kafka}
outputs:
  - name: out
    file: {path: out.jsonl}
context:
  privilege: {role_map: `+shared+`/rolemap.yaml}
pipelines: [`+shared+`/brute.yaml]
`)
	}
	_, stopCollector := rig.start(collector)
	defer stopCollector()
	p1, stopP1 := rig.start(processor("p1"))
	restores := func(a *Agent) float64 { return testutil.ToFloat64(a.m.stateRestores.WithLabelValues("ok")) }

	phase(1, 0, 3)
	waitDelivered("phase 1 delivered by the first processor")

	p2, stopP2 := rig.start(processor("p2"))
	defer func() {
		if stopP2 != nil {
			stopP2()
		}
	}()
	waitUntil(t, "the second processor given partitions", func() bool { return restores(p2) >= 1 })
	phase(2, 3, 6)
	waitDelivered("phase 2 delivered")

	stopP1()
	waitUntil(t, "the second processor given the first one's partitions", func() bool { return restores(p2) >= 2 })
	phase(3, 6, 30)
	waitDelivered("phase 3 delivered")
	stopP2()
	stopP2 = nil

	times, alerted := rig.delivered("p1", "p2")
	var want []string
	for _, u := range users {
		want = append(want, u+"-pw-04")
	}
	slices.Sort(want)
	if !slices.Equal(alerted, want) {
		t.Errorf("alerts on %v, want exactly one per burst, on its fifth wrong password: %v", alerted, want)
	}
	dup := 0
	for _, id := range all {
		if times[id] > 1 {
			dup++
		}
	}
	if dup > 0 {
		t.Errorf("%d of %d records delivered more than once", dup, len(all))
	}
	t.Logf("%d records, %d partitions; first processor restored %v times, second %v", len(all), clusterPartitons, restores(p1), restores(p2))
}

// flakyReplica takes the first ok calls, then fails.
type flakyReplica struct {
	ok    int
	calls int
}

func (f *flakyReplica) Replicate(context.Context, []monitor.Change) error {
	f.calls++
	if f.calls > f.ok {
		return errors.New("changelog topic deleted")
	}
	return nil
}

// A processor whose state changes cannot reach the changelog stops: the
// batch that made them and every later one stay unacknowledged (their
// partition's next owner reads them), and the run ends with the error —
// also when the batch before it was judged in the same group (the
// sequencer held back until all four were ready).
func TestUnreplicatedStateStopsThePipeline(t *testing.T) {
	for _, grouped := range []bool{false, true} {
		t.Run(fmt.Sprintf("grouped=%v", grouped), func(t *testing.T) {
			if grouped {
				var once sync.Once
				groupHook = func() { once.Do(func() { time.Sleep(200 * time.Millisecond) }) }
				defer func() { groupHook = nil }()
			}
			unreplicatedStops(t)
		})
	}
}

func unreplicatedStops(t *testing.T) {
	e, err := monitor.Compile([]monitor.Definition{{ID: "test.count", Title: "count", Risk: "low", Source: "signin",
		When: "signin.errorCode == 0", Threshold: &monitor.Threshold{Count: 1000, Window: monitor.Duration(time.Hour)}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := &sliceInput{}
	for b := range 4 {
		var items []batch.Item
		for i := range 5 {
			items = append(items, batch.Item{Data: signIn(b*5 + i), Origin: fmt.Sprint("rec ", b*5+i), Shard: "records/0"})
		}
		in.batches = append(in.batches, items)
	}
	out := &recordingOutput{}
	h := newHarness(t, "", in, out)
	h.engine = e
	h.workers = 1
	h.prepare = func(p *pipelineRun) {
		if err := p.state.SetReplica(context.Background(), &flakyReplica{ok: 1}); err != nil {
			t.Fatal(err)
		}
		if err := p.state.Restore("records/0", nil); err != nil {
			t.Fatal(err)
		}
	}
	err = h.run(context.Background())
	if !errors.Is(err, monitor.ErrNotReplicated) {
		t.Fatalf("run = %v, want ErrNotReplicated", err)
	}
	if got := in.committed(); !slices.Equal(got, []int{0}) {
		t.Errorf("committed batches %v, want only the first", got)
	}
	if n := len(out.lines); n != 5 {
		t.Errorf("output got %d records, want the first batch's 5", n)
	}
}
