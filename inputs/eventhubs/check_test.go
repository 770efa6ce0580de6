package eventhubs

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/privtrail/privtrail/internal/tlsconfig"
)

// commitOffsets commits offsets of testTopic for group as an admin does
// (generation -1: no member, no join).
func (e *env) commitOffsets(group string, offsets map[int32]int64) {
	e.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = testTopic, e.c.TopicInfo(testTopic).TopicID // v10 names topics by id
	for p, o := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, o
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, e.prod)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				e.t.Fatalf("commit %d: error %d", p.Partition, p.ErrorCode)
			}
		}
	}
}

// members is the number of members of group, as the broker knows them.
func (e *env) members(group string) int {
	e.t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(context.Background(), e.prod)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, g := range resp.Groups {
		n += len(g.Members)
	}
	return n
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		commit  map[int32]int64
		mod     func(*Config)
		want    string // the result, or a part of the error when fail
		fail    bool
		produce bool
	}{
		{name: "nothing committed",
			want: "topic entra: 3 partitions, group privtrail: nothing committed yet (reading starts from the earliest)"},
		{name: "lag", commit: map[int32]int64{0: 2, 1: 1, 2: 0},
			want: "topic entra: 3 partitions, group privtrail: 6 messages behind"},
		{name: "lag, a partition never committed", commit: map[int32]int64{0: 4},
			want: "topic entra: 3 partitions, group privtrail: 0 messages behind, 2 of 3 partitions never committed"},
		{name: "start from latest", mod: func(c *Config) { c.StartFrom = "latest" },
			want: "topic entra: 3 partitions, group privtrail: nothing committed yet (reading starts from the latest)"},
		{name: "missing topic", mod: func(c *Config) { c.Topics = []string{testTopic, "missing"} },
			want: "topic missing: UNKNOWN_TOPIC_OR_PARTITION: This server does not host this topic-partition. (the topic does not exist)", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 3, nil)
			e.produceEnvelopes(0, 4, 2)
			e.produceEnvelopes(1, 3, 1)
			e.produceEnvelopes(2, 2, 1)
			if tt.commit != nil {
				e.commitOffsets("privtrail", tt.commit)
			}
			cfg := Config{Brokers: e.addrs, Topics: []string{testTopic}}
			if tt.mod != nil {
				tt.mod(&cfg)
			}
			got, err := Check(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if tt.fail {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tt.want)
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, tt.want)
			}
			if n := e.members("privtrail"); n != 0 {
				t.Errorf("the check joined the group: %d members", n)
			}
			if tt.commit == nil && len(e.committed(e.client(), "privtrail")) != 0 {
				t.Error("the check committed offsets")
			}
		})
	}
}

// A connection string: SASL PLAIN as $ConnectionString with the whole
// string as password, to the namespace's port 9093 (the test hook dials
// kfake instead, as TestConnectionString does). A wrong key is refused,
// and the string appears nowhere.
func TestCheckConnectionString(t *testing.T) {
	e := newEnv(t, 2, []kgo.Opt{kgo.SASL(plain.Auth{User: ConnectionStringUser, Pass: testCS}.AsMechanism())},
		kfake.EnableSASL(), kfake.Superuser("PLAIN", ConnectionStringUser, testCS), kfake.SeedTopics(2, "entra-hub"))
	check := func(cs string) (got string, dialed []string, err error) {
		in, err := New("check", Config{ConnectionString: mustSecret(t, cs)}, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex // dials come from the client's goroutines
		in.dial = func(ctx context.Context, network, host string) (net.Conn, error) {
			mu.Lock()
			dialed = append(dialed, host)
			mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, e.addrs[0])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err = in.check(ctx)
		mu.Lock()
		defer mu.Unlock()
		return got, slices.Clone(dialed), err
	}
	got, dialed, err := check(testCS)
	if err != nil || got != "topic entra-hub: 2 partitions, group $Default: nothing committed yet (reading starts from the earliest)" {
		t.Fatalf("got %q, %v", got, err)
	}
	if len(dialed) == 0 || dialed[0] != "privtrail-test.servicebus.windows.net:9093" {
		t.Errorf("dialed %v, want the namespace's Kafka endpoint first", dialed)
	}
	wrong := strings.Replace(testCS, testKey, "d3Jvbmcta2V5LXdyb25nLWtleQ==", 1)
	got, _, err = check(wrong)
	t.Logf("wrong key: %v", err)
	if err == nil || !strings.Contains(err.Error(), "the connection string was refused: check its key and that its policy has Listen") {
		t.Fatalf("wrong key: %q, %v", got, err)
	}
	for _, s := range []string{testKey, "d3Jvbmcta2V5LXdyb25nLWtleQ==", "SharedAccessKey="} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error shows the connection string: %v", err)
		}
	}
}

// A principal that may describe the topic but not the group: the check
// passes and says the lag is not available.
func TestCheckLagNotAvailable(t *testing.T) {
	e := newEnv(t, 2, []kgo.Opt{kgo.SASL(plain.Auth{User: "admin", Pass: "admin-pass"}.AsMechanism())},
		kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "admin-pass"), kfake.EnableACLs(),
		kfake.User("PLAIN", "reader", "reader-pass", kfake.ACL{
			Resource: kmsg.ACLResourceTypeTopic, Name: testTopic, Pattern: kmsg.ACLResourcePatternTypeLiteral,
			Operation: kmsg.ACLOperationDescribe, Allow: true,
		}))
	cfg := Config{Brokers: e.addrs, Topics: []string{testTopic}, SASL: SASL{Mechanism: "plain", Username: "reader", Password: mustSecret(t, "reader-pass")}}
	got, err := Check(context.Background(), cfg, slog.New(slog.DiscardHandler))
	want := "topic entra: 2 partitions, group privtrail: lag not available ("
	if err != nil || !strings.HasPrefix(got, want) || !strings.Contains(got, "AUTHORIZATION_FAILED") {
		t.Fatalf("got %q, %v; want %q…AUTHORIZATION_FAILED…", got, err, want)
	}
	if strings.Contains(got, "reader-pass") {
		t.Errorf("the password appears in %q", got)
	}
}

// TLS verification is on: a broker whose certificate is not trusted fails
// the check; with its CA in tls.ca_file it passes.
func TestCheckTLS(t *testing.T) {
	srv := httptest.NewTLSServer(nil) // for its certificate, valid for 127.0.0.1
	srv.Close()
	e := newEnv(t, 1, []kgo.Opt{kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: true})},
		kfake.TLS(&tls.Config{Certificates: srv.TLS.Certificates, MinVersion: tls.VersionTLS12}))
	cfg := Config{Brokers: e.addrs, Topics: []string{testTopic}, TLS: &tlsconfig.Config{}}
	_, err := Check(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.TLS.CAFile = ca
	if got, err := Check(context.Background(), cfg, slog.New(slog.DiscardHandler)); err != nil || !strings.HasPrefix(got, "topic entra: 1 partitions") {
		t.Fatalf("with ca_file: %q, %v", got, err)
	}
}

func TestCheckClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = Check(ctx, Config{Brokers: []string{addr}, Topics: []string{testTopic}}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("closed port: %v", err)
	}
}
