package kafka

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		cluster clusterSpec
		mod     func(c *cluster, cfg *Config)
		want    string // the result, or a part of the error when fail
		fail    bool
	}{
		{name: "TLS and SASL PLAIN", cluster: secureCluster,
			want: "topic privtrail.entra: 6 partitions, WRITE authorized"},
		{name: "SCRAM-SHA-512 without TLS", cluster: clusterSpec{mech: "SCRAM-SHA-512"},
			want: "topic privtrail.entra: 6 partitions, WRITE authorized"},
		{name: "missing topic", cluster: secureCluster,
			mod:  func(c *cluster, cfg *Config) { cfg.Topic = "privtrail.missing" },
			want: "topic privtrail.missing: UNKNOWN_TOPIC_OR_PARTITION", fail: true},
		{name: "wrong password", cluster: secureCluster,
			mod:  func(c *cluster, cfg *Config) { cfg.SASL.Password = mustSecret(t, "not-the-password") },
			want: "kafka: EOF (the broker closed the connection: with SASL, usually refused credentials; check sasl.mechanism, sasl.username and sasl.password)", fail: true},
		{name: "untrusted certificate", cluster: secureCluster,
			mod:  func(c *cluster, cfg *Config) { cfg.TLS.CAFile = "" },
			want: "certificate signed by unknown authority", fail: true},
		{name: "no WRITE ACL", cluster: clusterSpec{mech: "SCRAM-SHA-256", more: []kfake.Opt{
			kfake.EnableACLs(),
			kfake.User("SCRAM-SHA-256", "reader", "reader-pass", kfake.ACL{
				Resource: kmsg.ACLResourceTypeTopic, Name: testTopic, Pattern: kmsg.ACLResourcePatternTypeLiteral,
				Operation: kmsg.ACLOperationDescribe, Allow: true,
			}),
		}},
			mod: func(c *cluster, cfg *Config) {
				cfg.SASL.Username, cfg.SASL.Password = "reader", mustSecret(t, "reader-pass")
			},
			want: "topic privtrail.entra: 6 partitions, but the principal may not WRITE to it (grant WRITE and DESCRIBE on the topic)", fail: true},
		{name: "no ACL at all", cluster: clusterSpec{mech: "SCRAM-SHA-256", more: []kfake.Opt{
			kfake.EnableACLs(), kfake.User("SCRAM-SHA-256", "nobody", "nobody-pass"),
		}},
			mod: func(c *cluster, cfg *Config) {
				cfg.SASL.Username, cfg.SASL.Password = "nobody", mustSecret(t, "nobody-pass")
			},
			want: "TOPIC_AUTHORIZATION_FAILED", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, tt.cluster)
			cfg := c.config(t)
			if tt.mod != nil {
				tt.mod(c, &cfg)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := Check(ctx, cfg, slog.New(slog.DiscardHandler))
			t.Logf("result %q, error %v", got, err)
			if tt.fail {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tt.want)
				}
				noPassword(t, err.Error())
			} else if err != nil || got != tt.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, tt.want)
			}
			noPassword(t, got)
			// Nothing was produced, no topic created.
			for _, pi := range c.PartitionInfos(testTopic) {
				if pi.HighWatermark != 0 {
					t.Errorf("partition %d has %d records", pi.Partition, pi.HighWatermark)
				}
			}
			if cfg.Topic != testTopic && len(c.PartitionInfos(cfg.Topic)) != 0 {
				t.Errorf("the check created topic %s", cfg.Topic)
			}
		})
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
	start := time.Now()
	_, err = Check(ctx, Config{Brokers: []string{addr}, Topic: testTopic}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("closed port: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a closed port took %s to report", d)
	}
}

func noPassword(t testing.TB, s string) {
	t.Helper()
	for _, pw := range []string{testPassword, "not-the-password", "reader-pass", "nobody-pass"} {
		if strings.Contains(s, pw) {
			t.Errorf("a password appears in %q", s)
		}
	}
}
