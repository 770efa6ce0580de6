package eventhubs

// Long outages at full rate (issue 16): the outputs stop acknowledging
// for longer than the group's session timeout while records keep
// arriving. The member must keep its partitions, hold no more fetched
// records than fetch_max_bytes allows, commit nothing it was not told to,
// and deliver the backlog once, in order, when the outputs return.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/logbuf"
)

// outageOutput stands in for the runner and a destination that goes down:
// emit queues a batch (a few fit, as in the runner's channels); a
// deliverer takes them in order and, while the destination is down,
// waits, so the queue fills and emit blocks. A batch is committed only
// once delivered.
type outageOutput struct {
	t     *testing.T
	queue chan *batch.Batch
	gate  atomic.Pointer[chan struct{}] // closed: the destination takes batches
	quit  chan struct{}
	done  chan struct{}

	down      atomic.Bool
	blockedAt atomic.Int64 // unix ns when emit first found the queue full while down

	mu        sync.Mutex
	items     []batch.Item
	ackedNext map[int32]int64 // per partition: offset after the last message with a delivered item
	badCommit []string        // commits past what was delivered
}

func newOutageOutput(t *testing.T) *outageOutput {
	o := &outageOutput{t: t, queue: make(chan *batch.Batch, 4), quit: make(chan struct{}), done: make(chan struct{}), ackedNext: map[int32]int64{}}
	o.setUp()
	go o.deliver()
	t.Cleanup(func() { close(o.quit); <-o.done })
	return o
}

func (o *outageOutput) setDown() {
	ch := make(chan struct{})
	o.gate.Store(&ch)
	o.down.Store(true)
}

func (o *outageOutput) setUp() {
	o.down.Store(false)
	ch := make(chan struct{})
	close(ch)
	o.gate.Store(&ch)
}

func (o *outageOutput) deliver() {
	defer close(o.done)
	for {
		var b *batch.Batch
		select {
		case b = <-o.queue:
		case <-o.quit:
			return
		}
		for up := false; !up; {
			select {
			case <-*o.gate.Load():
				up = true
			case <-o.quit:
				return
			case <-time.After(5 * time.Millisecond): // the gate may have been replaced
			}
		}
		o.mu.Lock()
		o.items = append(o.items, b.Items...)
		for _, it := range b.Items {
			_, p, off, _ := parseOrigin(o.t, it.Origin)
			o.ackedNext[p] = max(o.ackedNext[p], off+1)
		}
		o.mu.Unlock()
		if err := b.Commit(); err != nil {
			o.t.Errorf("commit: %v", err)
		}
	}
}

func (o *outageOutput) emit(ctx context.Context, b *batch.Batch) error {
	select {
	case o.queue <- b:
		return nil
	default:
	}
	if o.down.Load() {
		o.blockedAt.CompareAndSwap(0, time.Now().UnixNano())
	}
	select {
	case o.queue <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// committed is the input's commit hook: nothing may be committed past a
// message no item of which was delivered.
func (o *outageOutput) committed(offsets map[string]map[int32]kgo.EpochOffset, err error) {
	if err != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for p, eo := range offsets[testTopic] {
		if eo.Offset > o.ackedNext[p] {
			o.badCommit = append(o.badCommit, fmt.Sprintf("partition %d: committed %d, delivered up to %d", p, eo.Offset, o.ackedNext[p]))
		}
	}
}

func (o *outageOutput) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
}

// describeGroup asks the broker for the group's state and, per member,
// the partitions of testTopic assigned to it.
func describeGroup(t *testing.T, admin *kgo.Client, group string) (state string, members map[string][]int32) {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, admin)
	if err != nil || len(resp.Groups) != 1 {
		t.Fatalf("describe group: %v", err)
	}
	g := resp.Groups[0]
	members = map[string][]int32{}
	for _, m := range g.Members {
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(m.MemberAssignment); err != nil {
			t.Fatalf("member %s: assignment: %v", m.MemberID, err)
		}
		ps := []int32{}
		for _, at := range a.Topics {
			if at.Topic == testTopic {
				ps = append(ps, at.Partitions...)
			}
		}
		slices.Sort(ps)
		members[m.MemberID] = ps
	}
	return g.State, members
}

// The outputs stop taking batches for three session timeouts while two
// partitions keep receiving records. The member stays in the group with
// the same generation and partitions (no revoke, no loss, no rebalance),
// stops polling, the client holds no more than fetch_max_bytes of
// fetched records although the backlog grows far beyond it, and no
// offset moves. When the outputs return, every record is delivered once,
// in order per partition, and the offsets reach the end.
func TestLongOutageKeepsMembershipAndBoundsFetches(t *testing.T) {
	const (
		session  = 2 * time.Second
		outage   = 3 * session
		fetchMax = 64 << 10
		group    = "g-outage"
	)
	e := newEnv(t, 2, nil)
	logs := &logbuf.Buffer{}
	in := e.input("outage", group, logs, func(c *Config) { c.BatchSize = 100; c.FetchMaxBytes = fetchMax })
	in.extra = append(fastGroup(), kgo.SessionTimeout(session))
	out := newOutageOutput(t)
	in.hooks.committed = out.committed
	var assignMu sync.Mutex
	assigned := map[int32]int{}
	var revoked atomic.Int64
	in.hooks.assigned = func(_ *kgo.Client, m map[string][]int32) {
		assignMu.Lock()
		defer assignMu.Unlock()
		for _, p := range m[testTopic] {
			assigned[p]++
		}
	}
	in.hooks.revoked = func(m map[string][]int32) {
		if len(m) > 0 {
			revoked.Add(1)
		}
	}

	// A steady stream: every 5 ms one envelope of 4 records per partition,
	// and bursts on demand. Record batches stay small (8 KiB) and
	// uncompressed: a broker sends a batch larger than fetch_max_bytes
	// whole, and fetch_max_bytes counts bytes as stored (compressed), so
	// either would make the bound larger than the one tested here.
	prod := e.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(8<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
	var produced atomic.Int64 // bytes
	stopProducing := make(chan struct{})
	producing := make(chan struct{})
	burst, burstDone := make(chan int), make(chan struct{}, 1)
	go func() {
		defer close(producing)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			n := int64(1)
			select {
			case <-stopProducing:
				return
			case <-tick.C:
			case k := <-burst:
				n = int64(k)
			}
			var recs []*kgo.Record
			e.mu.Lock()
			for p := range e.parts {
				for k := range n {
					v := envelope(fmt.Sprintf("p%d@%d", p, e.next[p]+k), 4)
					recs = append(recs, &kgo.Record{Topic: testTopic, Partition: p, Value: v})
				}
			}
			e.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := prod.ProduceSync(ctx, recs...).FirstErr()
			cancel()
			if err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			e.mu.Lock()
			for _, r := range recs {
				e.msgLen[fmt.Sprintf("%d@%d", r.Partition, r.Offset)] = 4
				e.next[r.Partition] = max(e.next[r.Partition], r.Offset+1)
				produced.Add(int64(len(r.Value)))
			}
			e.mu.Unlock()
			if n > 1 {
				burstDone <- struct{}{}
			}
		}
	}()
	defer func() {
		select {
		case <-stopProducing:
		default:
			close(stopProducing)
		}
		<-producing
	}()

	stop := start(t, in, out.emit)
	client := func() *kgo.Client {
		in.mu.Lock()
		defer in.mu.Unlock()
		return in.cl
	}
	waitFor(t, 15*time.Second, "records to flow", func() bool {
		assignMu.Lock()
		defer assignMu.Unlock()
		return len(assigned) == 2 && out.count() >= 400
	})
	member, gen := client().GroupMetadata()
	admin := e.client()

	// A burst arrives (about 1.7 MB), and while the input works through
	// it, the destination goes down: the client's fetches are full when
	// the input blocks.
	burst <- 1000
	<-burstDone
	out.setDown()
	waitFor(t, 10*time.Second, "emit to block", func() bool { return out.blockedAt.Load() != 0 })
	blocked := time.Unix(0, out.blockedAt.Load())
	time.Sleep(300 * time.Millisecond) // the commits of what was delivered go through
	committedBefore := e.committed(admin, group)
	polledBefore := in.polled.Load()
	producedBefore := produced.Load()
	var maxBytes, maxRecords int64
	for time.Since(blocked) < outage {
		cl := client()
		maxBytes = max(maxBytes, cl.BufferedFetchBytes())
		maxRecords = max(maxRecords, cl.BufferedFetchRecords())
		if m, g := cl.GroupMetadata(); m != member || g != gen {
			t.Fatalf("membership changed during the outage: member %s generation %d, was %s %d", m, g, member, gen)
		}
		time.Sleep(20 * time.Millisecond)
	}
	blockedFor := time.Since(blocked)
	state, members := describeGroup(t, admin, group)
	_, g := client().GroupMetadata()
	polledDuring := in.polled.Load() - polledBefore
	backlog := produced.Load() - producedBefore
	committedAfter := e.committed(admin, group)
	t.Logf("emit blocked %s (session timeout %s): group %s, generation %d, members and partitions %v; the client buffered at most %d bytes / %d records (fetch_max_bytes %d) while %d bytes were produced; %d messages polled after the block",
		blockedFor.Round(time.Millisecond), session, state, g, members, maxBytes, maxRecords, fetchMax, backlog, polledDuring)
	if want := map[string][]int32{member: {0, 1}}; state != "Stable" || g != gen || !maps.EqualFunc(members, want, slices.Equal) {
		t.Errorf("after the outage the group is %s, generation %d, members %v; want Stable, %d, %v", state, g, members, gen, want)
	}
	if maxBytes > fetchMax {
		t.Errorf("the client buffered %d bytes of fetched records, over fetch_max_bytes %d", maxBytes, fetchMax)
	}

	if backlog < 10*fetchMax {
		t.Errorf("only %d bytes were produced during the outage: the bound was not tested", backlog)
	}
	if polledDuring > int64(in.cfg.BatchSize) {
		t.Errorf("%d messages polled while emit was blocked", polledDuring)
	}
	if !maps.Equal(committedBefore, committedAfter) {
		t.Errorf("offsets moved while nothing was delivered: %v, then %v", committedBefore, committedAfter)
	}

	rebalanced := revoked.Load()
	duringLog := logs.String()

	// The destination returns; the stream stops so that the end is known.
	close(stopProducing)
	<-producing
	out.setUp()
	ends := e.ends()
	total := 0
	e.mu.Lock()
	for _, n := range e.msgLen {
		total += n
	}
	e.mu.Unlock()
	waitFor(t, 20*time.Second, "the backlog", func() bool { return maps.Equal(e.committed(admin, group), ends) })
	if n := out.count(); n != total {
		t.Fatalf("%d items delivered, %d records produced", n, total)
	}
	if m, g := client().GroupMetadata(); m != member || g != gen {
		t.Errorf("membership changed: member %s generation %d, was %s %d", m, g, member, gen)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	// Once each, in order per partition.
	next := map[int32][2]int64{} // partition → next (offset, index)
	for _, it := range out.items {
		_, p, off, i := parseOrigin(t, it.Origin)
		want := next[p]
		if off != want[0] || int64(i) != want[1] {
			t.Fatalf("partition %d: got %d#%d, want %d#%d (lost, repeated or out of order)", p, off, i, want[0], want[1])
		}
		if id := itemID(t, it); id != fmt.Sprintf("p%d@%d-%d", p, off, i) {
			t.Fatalf("%s carries %s", it.Origin, id)
		}
		if i+1 == e.msgLen[fmt.Sprintf("%d@%d", p, off)] {
			next[p] = [2]int64{off + 1, 0}
		} else {
			next[p] = [2]int64{off, int64(i + 1)}
		}
	}
	for p, end := range ends {
		if next[p][0] != end {
			t.Errorf("partition %d: delivered up to %d, end %d", p, next[p][0], end)
		}
	}
	if len(out.badCommit) > 0 {
		t.Errorf("offsets committed before their records were delivered: %v", out.badCommit)
	}
	assignMu.Lock()
	defer assignMu.Unlock()
	if assigned[0] != 1 || assigned[1] != 1 || rebalanced != 0 {
		t.Errorf("assignments %v and %d revokes: the member was rebalanced", assigned, rebalanced)
	}
	if strings.Contains(duringLog, "partitions lost") || strings.Contains(duringLog, "partitions revoked") {
		t.Errorf("the log shows a rebalance:\n%s", duringLog)
	}
	t.Logf("%d records in %d messages delivered once, in order; committed %v", total, len(e.msgLen), ends)
}
