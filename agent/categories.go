package agent

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// maxCategories bounds how many distinct log categories are counted by
// name: a category is any name a record carries (Microsoft adds some every
// year), so a feed of made-up ones must not grow the counters and the
// metrics without bound. Records of categories beyond it count under
// moreCategories.
const (
	maxCategories  = 64
	moreCategories = "(other categories)"
)

// categoryCounts counts decoded records per diagnostic category (Graph
// records under the category they would have had).
type categoryCounts struct {
	mu     sync.Mutex
	byName map[string]*atomic.Int64
}

// counter returns the counter of category name, creating it while there
// is room.
func (c *categoryCounts) counter(name string) *atomic.Int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.byName[name]; n != nil {
		return n
	}
	if c.byName == nil {
		c.byName = map[string]*atomic.Int64{}
	}
	if len(c.byName) >= maxCategories {
		name = moreCategories
		if n := c.byName[name]; n != nil {
			return n
		}
	}
	n := new(atomic.Int64)
	c.byName[strings.Clone(name)] = n
	return n
}

// Categories returns how many records of each category were decoded.
func (s *Stats) Categories() map[string]int64 {
	s.categories.mu.Lock()
	defer s.categories.mu.Unlock()
	out := make(map[string]int64, len(s.categories.byName))
	for name, n := range s.categories.byName {
		out[name] = n.Load()
	}
	return out
}

// categoryCache is a worker's own map from category to counter, so that
// counting a record takes no lock.
type categoryCache map[string]*atomic.Int64

func (cc categoryCache) count(st *Stats, category string) {
	n := cc[category]
	if n == nil {
		if len(cc) >= 2*maxCategories {
			clear(cc) // a flood of distinct names: start over rather than grow
		}
		n = st.categories.counter(category)
		cc[strings.Clone(category)] = n
	}
	n.Add(1)
}

// categoryCollector exposes the per-category counts at scrape time;
// nothing on the record path touches Prometheus for them.
type categoryCollector struct{ st *Stats }

var categoryDesc = prometheus.NewDesc("privtrail_records_by_category_total",
	"Records decoded, by diagnostic-settings category (Graph records under the category they would have had).",
	[]string{"category"}, nil)

func (c categoryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- categoryDesc }

func (c categoryCollector) Collect(ch chan<- prometheus.Metric) {
	for name, n := range c.st.Categories() {
		ch <- prometheus.MustNewConstMetric(categoryDesc, prometheus.CounterValue, float64(n), name)
	}
}
