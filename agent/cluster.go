package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/privtrail/privtrail/inputs"
	"github.com/privtrail/privtrail/inputs/eventhubs"
	"github.com/privtrail/privtrail/internal/changelog"
	"github.com/privtrail/privtrail/monitor"
	"github.com/privtrail/privtrail/outputs"
	"github.com/privtrail/privtrail/outputs/kafka"
)

// Cluster roles.
const (
	RoleCollector = "collector"
	RoleProcessor = "processor"
)

// ClusterConfig is the `cluster:` block: one privtrail split into
// collectors, which read the sources and publish decoded records to a
// Kafka topic keyed by user, and processors, which share that topic in one
// consumer group, enrich, run the monitors and forward. Each processor
// keeps the monitor state of the partitions it owns, copied to a
// compacted changelog topic so that it moves with a partition.
type ClusterConfig struct {
	// Role is collector or processor.
	Role string `yaml:"role"`
	// Kafka is the records topic and how to reach it: an outputs[].kafka
	// block (brokers, topic, sasl, tls, compression, buffer). Records are
	// always keyed by the user they are about (kafka.KeySubject): one
	// user's sign-ins, and the audit records that change that user's
	// roles, stay on one partition, in order, with their state.
	Kafka *kafka.Config `yaml:"kafka"`
	// ConsumerGroup the processors share; default privtrail-processors.
	ConsumerGroup string `yaml:"consumer_group"`
	// StateTopic is the processors' compacted state changelog; default
	// <topic>-state. Created with the records topic's partition count
	// when missing.
	StateTopic string `yaml:"state_topic"`
	// RebalanceWait bounds how long a processor giving up a partition
	// waits for its batches in flight to be acknowledged (default 10s).
	RebalanceWait time.Duration `yaml:"rebalance_wait"`
}

const clusterInput, clusterOutput = "cluster", "cluster"

// applyCluster checks the cluster block against the rest of the config
// and puts the role's own input or output in place: the records topic is
// a collector's only destination and a processor's only source.
func (c *Config) applyCluster(bad badFunc) {
	cl := c.Cluster
	if cl == nil {
		return
	}
	switch cl.Role {
	case RoleCollector, RoleProcessor:
	default:
		bad("$.cluster.role", "cluster.role: %q is not collector or processor", cl.Role)
		return
	}
	if cl.Kafka == nil {
		bad("$.cluster", "cluster.kafka: is required (brokers and topic of the records topic)")
		return
	}
	k := *cl.Kafka
	k.Key = kafka.KeySubject
	// The processors decode what the collectors read: the records go
	// through the topic as read, never re-shaped.
	if k.Envelope != "" && k.Envelope != kafka.DefaultEnvelope {
		bad("$.cluster.kafka.envelope", "cluster.kafka.envelope: the records topic carries records as read (%s), got %q", kafka.DefaultEnvelope, k.Envelope)
		return
	}
	if err := k.Validate(); err != nil {
		bad("$.cluster.kafka", "cluster.kafka.%v", err)
		return
	}
	if cl.ConsumerGroup == "" {
		cl.ConsumerGroup = "privtrail-processors"
	}
	if cl.StateTopic == "" {
		cl.StateTopic = k.Topic + "-state"
	}
	if cl.StateTopic == k.Topic {
		bad("$.cluster.state_topic", "cluster.state_topic: must differ from cluster.kafka.topic")
	}
	switch cl.Role {
	case RoleCollector:
		if len(c.Outputs) > 0 {
			bad("$.outputs", "outputs: a collector sends every record to cluster.kafka.topic; the SIEM outputs belong in the processors' config")
		}
		if len(c.Pipelines) > 0 {
			bad("$.pipelines", "pipelines: a collector runs no monitors (the processors do); remove pipelines")
		}
		c.Outputs = []outputs.Entry{{Name: clusterOutput, Type: "kafka", Config: &k}}
	case RoleProcessor:
		if len(c.Inputs) > 0 {
			bad("$.inputs", "inputs: a processor reads cluster.kafka.topic only; the sources belong in the collectors' config")
		}
		if len(c.Pipelines) > 1 {
			bad("$.pipelines", "pipelines: a processor runs one pipeline (its state follows the partitions of one consumer group); run a processor group per pipeline")
		}
		in := &eventhubs.Config{
			Brokers:       k.Brokers,
			Topics:        []string{k.Topic},
			ConsumerGroup: cl.ConsumerGroup,
			SASL:          eventhubs.SASL{Mechanism: k.SASL.Mechanism, Username: k.SASL.Username, Password: k.SASL.Password},
			TLS:           k.TLS,
			RebalanceWait: cl.RebalanceWait,
		}
		if err := in.Validate(); err != nil {
			bad("$.cluster", "cluster: as the processors' input: %v", err)
			return
		}
		c.Inputs = []inputs.Entry{inputs.NewEntry(clusterInput, "eventhubs", in)}
		c.replay = true // the one input feeds the one pipeline, whatever its inputs list says
	}
}

// role is the cluster role, "" for a single agent.
func (c *Config) role() string {
	if c.Cluster == nil {
		return ""
	}
	return c.Cluster.Role
}

// shardState makes a processor's pipeline state follow the partitions
// its cluster input is given: restored from the changelog when one is
// assigned, released when it is taken away, every change copied to the
// changelog before its batch can be checkpointed. What it opens is closed
// by a.closers when the run returns.
func (a *Agent) shardState(ctx context.Context, in *eventhubs.Input, p *pipelineRun) error {
	cl := a.cfg.Cluster
	log := a.log.With("component", "changelog")
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	clog, err := changelog.Open(octx, changelog.Options{Topic: cl.StateTopic, SourceTopic: cl.Kafka.Topic, Conn: in.ConnOpts(), Log: log})
	if err != nil {
		return fmt.Errorf("cluster state topic %s: %w", cl.StateTopic, err)
	}
	// Replication outlives the stop signal by the drain time, so batches
	// in flight at shutdown can still be judged and delivered. The caller
	// cancels it when the run returns.
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(a.Drain, stop) })
	a.closers = append(a.closers, func() { stopAfter(); stop(); clog.Close() })
	if err := p.state.SetReplica(rctx, clog); err != nil {
		return fmt.Errorf("monitor state: dropping an earlier run's partitions: %w", err)
	}
	restored := a.m.stateRestores
	in.SetPartitionHooks(func(ctx context.Context, shards []string) error {
		st, err := clog.Restore(ctx, p.name, shards, p.state.Restore)
		if err != nil {
			restored.WithLabelValues("failed").Inc()
			return err
		}
		restored.WithLabelValues("ok").Inc()
		a.m.stateRestoredEntries.Add(float64(st.Entries))
		log.Info("monitor state restored", "pipeline", p.name, "partitions", shards, "entries", st.Entries, "records_read", st.Records, "took", st.Took.Round(time.Millisecond))
		return nil
	}, func(shards []string) {
		for _, sh := range shards {
			if err := p.state.Release(sh); err != nil {
				log.Warn("local state of a released partition not deleted; it is replaced when the partition comes back", "partition", sh, "err", err)
			}
		}
	})
	return nil
}

// notReplicated reports whether err means the pipeline must stop
// forwarding: a batch whose state changes did not reach the changelog
// must not be checkpointed.
func notReplicated(err error) bool { return errors.Is(err, monitor.ErrNotReplicated) }
