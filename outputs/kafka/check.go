package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Check tests cfg's cluster without producing (privtrail check): it
// connects to the brokers as the output does (TLS, SASL) and asks for the
// topic's metadata, which must exist (the output does not create topics).
// When the broker reports the principal's rights on the topic (Kafka
// 2.3+), WRITE must be among them. It returns what was verified, e.g.
// "topic privtrail-records: 6 partitions, WRITE authorized"; neither the
// result nor the error holds the password.
func Check(ctx context.Context, cfg Config, log *slog.Logger) (string, error) {
	c, err := NewClient(cfg, "check", log)
	if err != nil {
		return "", err
	}
	c.Close() // it never connected: its options make the check's client
	// A refused connection is retried a few times, not until the check's
	// time is up: the operator gets the broker's error.
	cl, err := kgo.NewClient(append(c.cl.Opts(), kgo.RequestRetries(3))...)
	if err != nil {
		return "", fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()

	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(c.topic)
	req.Topics = append(req.Topics, t)
	req.AllowAutoTopicCreation = false
	req.IncludeTopicAuthorizedOperations = true // Kafka 2.3+
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		if msg := c.kl.lastErr(); errors.Is(err, context.DeadlineExceeded) && msg != "" {
			return "", fmt.Errorf("no broker answered: %s", msg)
		}
		hint := checkHint(err)
		if errors.Is(err, io.EOF) && cfg.SASL.Mechanism != "" {
			hint = " (the broker closed the connection: with SASL, usually refused credentials; check sasl.mechanism, sasl.username and sasl.password)"
		}
		return "", fmt.Errorf("kafka: %w%s", err, hint)
	}
	if len(resp.Topics) != 1 {
		return "", fmt.Errorf("kafka: the metadata answer has %d topics for 1 asked", len(resp.Topics))
	}
	rt := resp.Topics[0]
	if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
		return "", fmt.Errorf("topic %s: %w%s", c.topic, err, checkHint(err))
	}
	out := fmt.Sprintf("topic %s: %d partitions", c.topic, len(rt.Partitions))
	// The principal's rights on the topic, when the broker tells
	// (math.MinInt32: it did not).
	if ops := rt.AuthorizedOperations; ops != math.MinInt32 {
		if ops&(1<<int(kmsg.ACLOperationWrite)) == 0 {
			return "", fmt.Errorf("%s, but the principal may not WRITE to it (grant WRITE and DESCRIBE on the topic)", out)
		}
		out += ", WRITE authorized"
	}
	return out, nil
}

// checkHint says what to fix for the errors an operator can fix.
func checkHint(err error) string {
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return " (the topic does not exist: create it, the output does not)"
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return " (the principal needs DESCRIBE and WRITE on the topic)"
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState), errors.Is(err, kerr.UnsupportedSaslMechanism):
		return " (check sasl.mechanism, sasl.username and sasl.password)"
	}
	return ""
}
