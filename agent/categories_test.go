package agent

import (
	"fmt"
	"sync"
	"testing"
)

// Categories are counted by name up to maxCategories; a flood of made-up
// ones lands in one bucket instead of growing the counters.
func TestCategoryCountsBounded(t *testing.T) {
	var st Stats
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := categoryCache{}
			for i := range 1000 {
				cc.count(&st, "SignInLogs")
				cc.count(&st, fmt.Sprintf("Made%dUp%d", w, i))
			}
		}()
	}
	wg.Wait()
	got := st.Categories()
	if got["SignInLogs"] != 4000 {
		t.Errorf("SignInLogs = %d, want 4000", got["SignInLogs"])
	}
	if len(got) != maxCategories+1 {
		t.Errorf("%d categories counted, want %d and %q", len(got), maxCategories, moreCategories)
	}
	var total int64
	for _, n := range got {
		total += n
	}
	if total != 8000 || got[moreCategories] != 8000-4000-int64(maxCategories-1) {
		t.Errorf("total %d, %s %d", total, moreCategories, got[moreCategories])
	}
}
