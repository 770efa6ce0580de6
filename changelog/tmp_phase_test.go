package changelog

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/privtrail/privtrail/monitor"
)

func TestTmpPhases(t *testing.T) {
	e := newEnv(t, 1)
	l := e.open(t, nil)
	value := bytes.Repeat([]byte{'v'}, 48)
	batch := make([]monitor.Change, 0, 1000)
	for i := range 100000 {
		batch = append(batch, monitor.Change{Shard: shard(0), Pipeline: "signins", Monitor: fmt.Sprintf("mon.%d", i%8), Key: fmt.Sprintf("user%06d@contoso.example", i), Value: value})
		if len(batch) == cap(batch) {
			replicate(t, l, batch...)
			batch = batch[:0]
		}
	}
	for range 3 {
		t0 := time.Now()
		s, en, _ := l.offsets(context.Background(), []int32{0})
		t1 := time.Now()
		state := map[int32]map[string][]byte{}
		n, err := l.read(context.Background(), s, en, state)
		t2 := time.Now()
		es := l.entries(shard(0), "signins", state[0])
		t3 := time.Now()
		t.Logf("offsets %v read %v (%d, %v) entries %v (%d)", t1.Sub(t0), t2.Sub(t1), n, err, t3.Sub(t2), len(es))
	}
}
