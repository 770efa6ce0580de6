package outputbench

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestEveryRecordArrives runs each kind on a small count and checks that
// the peer got every record, end to end, at least once. The figures are
// logged, not asserted: the machine is shared. OUTPUTBENCH_RECORDS sets
// the count (e.g. 200000 for figures worth reading).
func TestEveryRecordArrives(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every output against its peer")
	}
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("OUTPUTBENCH_RECORDS")); err == nil && v > 0 {
		n = v
	}
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			res, err := Run(ctx, kind, n, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Log(res)
			if res.Missing != 0 {
				t.Fatalf("%d records did not arrive", res.Missing)
			}
			if res.Records != n {
				t.Fatalf("ran %d records, want %d", res.Records, n)
			}
		})
	}
}
