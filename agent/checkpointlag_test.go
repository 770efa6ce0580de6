package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
)

// privtrail_checkpoint_lag_seconds with records dated in the future, and a
// host clock that steps: never negative, and it does not stick.
func TestCheckpointLag(t *testing.T) {
	base := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	type ack struct {
		host   time.Duration   // the host's clock, from base, when the batch is acknowledged
		events []time.Duration // event times of its records, from base
	}
	const year = 365 * 24 * time.Hour
	tests := []struct {
		name string
		acks []ack
		host time.Duration // the host's clock when scraped
		want float64       // seconds
	}{
		{"nothing acknowledged", nil, 0, 0},
		{"records five minutes old", []ack{{0, []time.Duration{-10 * time.Minute, -5 * time.Minute}}}, time.Minute, 360},
		{"a record dated next year counts as acknowledged now", []ack{
			{0, []time.Duration{-5 * time.Minute, year}}}, 30 * time.Second, 30},
		{"records after it move the lag again", []ack{
			{0, []time.Duration{year}},
			{10 * time.Minute, []time.Duration{2 * time.Minute}}, // newer than when the future one was acknowledged
		}, 11 * time.Minute, 540},
		{"older records after it do not", []ack{
			{0, []time.Duration{year}},
			{10 * time.Minute, []time.Duration{-time.Minute}},
		}, 11 * time.Minute, 660},
		{"a few seconds ahead (a source's clock)", []ack{{0, []time.Duration{3 * time.Second}}}, 0, 0},
		{"the host's clock went back an hour", []ack{
			{0, []time.Duration{-5 * time.Minute}},
			{-time.Hour + time.Minute, []time.Duration{-time.Hour - 4*time.Minute}},
		}, -time.Hour + 2*time.Minute, 360},
		{"the host's clock went back, scraped before the next batch", []ack{
			{0, []time.Duration{-5 * time.Minute}},
		}, -time.Hour, 0},
		{"records without a time", []ack{{0, nil}}, time.Minute, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var host time.Time
			lag := &checkpointLag{now: func() time.Time { return host }}
			for _, a := range tt.acks {
				host = base.Add(a.host)
				b := &batch.Batch{}
				for _, e := range a.events {
					b.Records = append(b.Records, &entra.Record{Time: base.Add(e)})
				}
				if a.events == nil {
					b.Records = []*entra.Record{{}}
				}
				lag.acked(b)
			}
			host = base.Add(tt.host)
			if got := lag.seconds(); got != tt.want {
				t.Errorf("lag %v s, want %v", got, tt.want)
			}
		})
	}
}

// The gauge on /metrics reads the same value.
func TestCheckpointLagGauge(t *testing.T) {
	m := newMetrics()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	lag := &checkpointLag{now: func() time.Time { return now }}
	m.checkpointLag("graph", lag)
	lag.acked(&batch.Batch{Records: []*entra.Record{{Time: now.Add(365 * 24 * time.Hour)}}})
	now = now.Add(90 * time.Second)
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "privtrail_checkpoint_lag_seconds" {
			continue
		}
		if !strings.Contains(mf.GetHelp(), "never negative") {
			t.Errorf("help %q", mf.GetHelp())
		}
		if v := mf.GetMetric()[0].GetGauge().GetValue(); v != 90 {
			t.Errorf("gauge %v, want 90", v)
		}
		return
	}
	t.Fatal("no privtrail_checkpoint_lag_seconds")
}
