package agent

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
)

// Summary is an output that tallies what went through: records per
// stream, privileged users seen, and hits per monitor. The demo and
// `privtrail replay` print it.
type Summary struct {
	mu         sync.Mutex
	records    int
	privileged map[string]bool
	hits       map[string]*monitorTally
	order      []string
}

type monitorTally struct {
	id, risk, title string
	count           int
	example         string
}

// NewSummary returns an empty Summary.
func NewSummary() *Summary {
	return &Summary{privileged: map[string]bool{}, hits: map[string]*monitorTally{}}
}

// Consume tallies a batch.
func (s *Summary) Consume(_ context.Context, b *batch.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range b.Records {
		s.records++
		for _, p := range privilegedOf(rec) {
			s.privileged[strings.ToLower(p)] = true
		}
		for _, h := range rec.Hits {
			t := s.hits[h.ID]
			if t == nil {
				t = &monitorTally{id: h.ID, risk: h.Risk, title: h.Title, example: exampleUser(rec, h)}
				s.hits[h.ID] = t
				s.order = append(s.order, h.ID)
			}
			t.count++
		}
	}
	b.Ack()
	return nil
}

// Close does nothing; a Summary holds no resources.
func (s *Summary) Close(context.Context) error { return nil }

func privilegedOf(rec *entra.Record) []string {
	if rec.Stream == entra.StreamDirectory {
		return nil // a scan lists every admin: that is not seeing them act
	}
	var out []string
	if rec.Actor.Privileged {
		out = append(out, firstNonEmpty(rec.Actor.UPN, rec.Actor.ID))
	}
	for _, t := range rec.Audit.Targets {
		if t.Privileged {
			out = append(out, firstNonEmpty(t.UPN, t.ID))
		}
	}
	return out
}

func exampleUser(rec *entra.Record, h entra.Hit) string {
	if rec.Stream == entra.StreamAudit {
		for _, t := range rec.Audit.Targets {
			if (t.Privileged || t.Emergency) && !strings.HasPrefix(h.ID, "audit.privileged_change") {
				return firstNonEmpty(t.UPN, t.ID)
			}
		}
	}
	return firstNonEmpty(rec.Actor.UPN, rec.Actor.ID, rec.Actor.DisplayName)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Hits returns hit counts per monitor ID.
func (s *Summary) Hits() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.hits))
	for id, t := range s.hits {
		out[id] = t.count
	}
	return out
}

// PrivilegedUsers is how many distinct privileged users the records named.
func (s *Summary) PrivilegedUsers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.privileged)
}

var riskOrder = map[string]int{"high": 0, "medium": 1, "low": 2}

// WriteTable prints the per-monitor table, high risk first.
func (s *Summary) WriteTable(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := append([]string(nil), s.order...)
	sort.SliceStable(ids, func(i, j int) bool {
		a, b := s.hits[ids[i]], s.hits[ids[j]]
		if riskOrder[a.risk] != riskOrder[b.risk] {
			return riskOrder[a.risk] < riskOrder[b.risk]
		}
		return a.id < b.id
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MONITOR\tRISK\tHITS\tEXAMPLE USER")
	for _, id := range ids {
		t := s.hits[id]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", t.id, t.risk, t.count, t.example)
	}
	tw.Flush()
}
