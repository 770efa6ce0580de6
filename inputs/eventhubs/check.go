package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkRetries bounds how often a check's request is retried.
const checkRetries = 3

// Check tests cfg without reading a record or joining the consumer group
// (privtrail check): it connects as New configures the input (the
// connection string's namespace with SASL PLAIN over TLS, or the brokers
// with their TLS and SASL), asks for the metadata of every topic (each
// must exist), and compares the group's committed offsets with the end
// of each partition: the lag, in Kafka messages. A lag that cannot be
// read (the group may not be described) is said, not failed. It returns
// what was verified; neither the result nor the error holds the
// connection string or the password.
func Check(ctx context.Context, cfg Config, log *slog.Logger) (string, error) {
	in, err := New("check", cfg, log, nil)
	if err != nil {
		return "", err
	}
	return in.check(ctx)
}

// checkOpts are the connection options of clientOpts (brokers, TLS,
// SASL) without the consumer group, which a check must not join, and
// with few retries.
func (in *Input) checkOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(in.seeds...), kgo.ClientID("privtrail"),
		// A refused connection is retried a few times, not until the
		// check's time is up: the operator gets the broker's error.
		kgo.RequestRetries(checkRetries)}
	if in.mech != nil {
		opts = append(opts, kgo.SASL(in.mech))
	}
	switch {
	case in.dial != nil:
		opts = append(opts, kgo.Dialer(in.dial))
	case in.tls != nil:
		opts = append(opts, kgo.DialTLSConfig(in.tls))
	}
	return opts
}

func (in *Input) check(ctx context.Context) (string, error) {
	cl, err := kgo.NewClient(in.checkOpts()...)
	if err != nil {
		return "", err
	}
	defer cl.Close()

	meta := kmsg.NewPtrMetadataRequest()
	for _, t := range in.cfg.Topics {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(t)
		meta.Topics = append(meta.Topics, mt)
	}
	resp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return "", fmt.Errorf("connecting to %s: %w%s", strings.Join(in.seeds, ", "), err, in.checkHint(err))
	}
	parts := map[string][]int32{}
	var order []string
	var bad []string
	for _, t := range resp.Topics {
		var name string
		if t.Topic != nil {
			name = *t.Topic
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			bad = append(bad, fmt.Sprintf("topic %s: %v%s", name, err, in.checkHint(err)))
			continue
		}
		order = append(order, name)
		for _, p := range t.Partitions {
			parts[name] = append(parts[name], p.Partition)
		}
	}
	if len(bad) > 0 {
		return "", errors.New(strings.Join(bad, "; "))
	}
	lags, lagErr := in.lag(ctx, cl, parts)
	var out []string
	for _, t := range order {
		s := fmt.Sprintf("topic %s: %d partitions", t, len(parts[t]))
		if lagErr != nil {
			s += fmt.Sprintf(", group %s: lag not available (%v)", in.cfg.ConsumerGroup, lagErr)
		} else {
			s += ", group " + in.cfg.ConsumerGroup + ": " + lags[t]
		}
		out = append(out, s)
	}
	return strings.Join(out, "; "), nil
}

// lag says, per topic, how many Kafka messages the group has not
// committed yet, from its committed offsets and the partitions' end
// offsets.
func (in *Input) lag(ctx context.Context, cl *kgo.Client, parts map[string][]int32) (map[string]string, error) {
	ends, err := endOffsets(ctx, cl, parts)
	if err != nil {
		return nil, err
	}
	cs, err := in.committedOffsets(ctx, cl, parts)
	if err != nil {
		return nil, err
	}
	return in.describeLag(parts, ends, cs), nil
}

// endOffsets asks for the end offset of each partition, by topic.
func endOffsets(ctx context.Context, cl *kgo.Client, parts map[string][]int32) (map[string]map[int32]int64, error) {
	lo := kmsg.NewPtrListOffsetsRequest()
	for t, ps := range parts {
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = t
		for _, p := range ps {
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Partition, lp.Timestamp = p, -1 // the end
			lt.Partitions = append(lt.Partitions, lp)
		}
		lo.Topics = append(lo.Topics, lt)
	}
	lresp, err := lo.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("end offsets: %w", err)
	}
	ends := map[string]map[int32]int64{}
	for _, t := range lresp.Topics {
		ends[t.Topic] = map[int32]int64{}
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("end offset of %s/%d: %w", t.Topic, p.Partition, err)
			}
			ends[t.Topic][p.Partition] = p.Offset
		}
	}
	return ends, nil
}

// committed is the group's committed offset of one partition.
type committed struct {
	topic     string
	partition int32
	offset    int64 // negative: none
	code      int16
}

// committedOffsets asks for the group's committed offsets of the
// partitions; a group that does not exist has committed none.
func (in *Input) committedOffsets(ctx context.Context, cl *kgo.Client, parts map[string][]int32) ([]committed, error) {
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = in.cfg.ConsumerGroup
	og := kmsg.NewOffsetFetchRequestGroup()
	og.Group = in.cfg.ConsumerGroup
	for t, ps := range parts {
		ot := kmsg.NewOffsetFetchRequestTopic() // before v8
		ot.Topic, ot.Partitions = t, ps
		of.Topics = append(of.Topics, ot)
		ogt := kmsg.NewOffsetFetchRequestGroupTopic() // v8+
		ogt.Topic, ogt.Partitions = t, ps
		og.Topics = append(og.Topics, ogt)
	}
	of.Groups = append(of.Groups, og)
	oresp, err := of.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("committed offsets: %w", err)
	}
	cs, code := committedIn(oresp)
	switch err := kerr.ErrorForCode(code); {
	case errors.Is(err, kerr.GroupIDNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("committed offsets: %w", err)
	}
	for _, c := range cs {
		if err := kerr.ErrorForCode(c.code); err != nil {
			return nil, fmt.Errorf("committed offset of %s/%d: %w", c.topic, c.partition, err)
		}
	}
	return cs, nil
}

// committedIn reads the offsets and the group's error code out of an
// OffsetFetch answer: in Groups from v8 on, else at the top level (the
// client fills both when it can).
func committedIn(resp *kmsg.OffsetFetchResponse) ([]committed, int16) {
	var cs []committed
	if len(resp.Groups) == 1 {
		g := resp.Groups[0]
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				cs = append(cs, committed{t.Topic, p.Partition, p.Offset, p.ErrorCode})
			}
		}
		return cs, g.ErrorCode
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			cs = append(cs, committed{t.Topic, p.Partition, p.Offset, p.ErrorCode})
		}
	}
	return cs, resp.ErrorCode
}

// describeLag puts in words, per topic, how far the committed offsets cs
// are behind the end offsets.
func (in *Input) describeLag(parts map[string][]int32, ends map[string]map[int32]int64, cs []committed) map[string]string {
	behind := map[string]int64{}
	never := map[string]int{}
	for t, ps := range parts {
		never[t] = len(ps)
	}
	for _, c := range cs {
		if c.offset < 0 {
			continue
		}
		never[c.topic]--
		behind[c.topic] += max(ends[c.topic][c.partition]-c.offset, 0)
	}
	out := map[string]string{}
	for t, ps := range parts {
		switch n := never[t]; {
		case n == len(ps):
			out[t] = "nothing committed yet (reading starts from the " + in.cfg.StartFrom + ")"
		case n > 0:
			out[t] = fmt.Sprintf("%d messages behind, %d of %d partitions never committed", behind[t], n, len(ps))
		default:
			out[t] = fmt.Sprintf("%d messages behind", behind[t])
		}
	}
	return out
}

// checkHint says what to fix for the errors an operator can fix.
func (in *Input) checkHint(err error) string {
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition) && in.isEH:
		return " (no event hub of that name in the namespace)"
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return " (the topic does not exist)"
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return " (the principal needs DESCRIBE and READ on the topic)"
	case in.isEH && (errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, io.EOF)):
		return " (the connection string was refused: check its key and that its policy has Listen)"
	case in.mech != nil && (errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, io.EOF)):
		return " (the broker refused the credentials or closed the connection: check sasl.mechanism, sasl.username and sasl.password)"
	}
	return ""
}
