package agent

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"

	"github.com/privtrail/privtrail/internal/delivery"
)

// DefaultMemoryLimit is memory_limit when it is left out: the Go runtime's
// soft limit on all the memory it manages (the RSS adds the binary's and
// the store's mapped pages, about 37 MB). The agent's own working set is
// bounded (batches in flight, the state and enrichment caches): 70–90 MB
// of live heap replaying 10^6 records of 10,000 users; without a limit
// the collector lets the heap grow to twice the live set and the RSS
// follows.
const DefaultMemoryLimit = 144 << 20

// cgroupMemoryMax is where a container's memory limit is (cgroup v2).
var cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// memoryLimit is the soft limit to set: GOMEMLIMIT when the environment
// sets it (the runtime has already applied it: -1, leave it), else
// memory_limit (0: the default), lowered to 90% of the container's limit
// when one is set below it, so the collector works harder before the
// kernel kills the process.
func memoryLimit(configured delivery.Size) (limit int64, source string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return -1, "GOMEMLIMIT"
	}
	limit, source = int64(configured), "memory_limit"
	if limit == 0 {
		limit, source = DefaultMemoryLimit, "default"
	}
	if b, err := os.ReadFile(cgroupMemoryMax); err == nil {
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && n > 0 && n/10*9 < limit {
			limit, source = n/10*9, "90% of the cgroup's memory.max"
		}
	}
	return limit, source
}

// applyMemoryLimit sets the runtime's soft memory limit and logs it.
func applyMemoryLimit(configured delivery.Size, log *slog.Logger) {
	limit, source := memoryLimit(configured)
	if limit < 0 {
		log.Info("memory limit", "limit", fmt.Sprintf("%dMiB", debug.SetMemoryLimit(-1)>>20), "source", source)
		return
	}
	debug.SetMemoryLimit(limit)
	log.Info("memory limit", "limit", fmt.Sprintf("%dMiB", limit>>20), "source", source)
}
