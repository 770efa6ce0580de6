package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
)

// Row is one line of the benchmark table: privtrail's figure against its
// reference (the floor, the sender alone), as ranges over the runs.
type Row struct {
	What       string
	Privtrail  Range // records/s
	Reference  Range // records/s; zero: none
	Ratio      Range // privtrail ÷ reference, run by run
	RSS        Range // bytes
	Target     string
	Note       string
	Unmeasured string // why there is no figure
}

// Range is the least and the most of a figure over runs.
type Range struct{ Lo, Hi float64 }

// Add widens r to take v.
func (r *Range) Add(v float64) {
	if r.Lo == 0 && r.Hi == 0 || v < r.Lo {
		r.Lo = v
	}
	if v > r.Hi {
		r.Hi = v
	}
}

// Format writes r with f: one figure, a range lo–hi, or — when unset.
func (r Range) Format(f func(float64) string) string {
	switch {
	case r.Lo == 0 && r.Hi == 0:
		return "—"
	case f(r.Lo) == f(r.Hi):
		return f(r.Lo)
	}
	return f(r.Lo) + "–" + f(r.Hi)
}

// Print writes the rows as one table, headed by the machine it ran on.
func Print(w io.Writer, rows []Row) {
	fmt.Fprintf(w, "privtrail bench on %s, %d CPUs, %s\n\n", CPUModel(), runtime.NumCPU(), runtime.Version())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tprivtrail rec/s\treference rec/s\tratio\ttarget\tpeak RSS\tnote")
	ratio := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	mb := func(v float64) string { return fmt.Sprintf("%.0f MB", v/1e6) }
	for _, r := range rows {
		if r.Unmeasured != "" {
			fmt.Fprintf(tw, "%s\t—\t—\t—\t%s\t—\t%s\n", r.What, r.Target, r.Unmeasured)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.What, r.Privtrail.Format(Rate), r.Reference.Format(Rate), r.Ratio.Format(ratio), r.Target, r.RSS.Format(mb), r.Note)
	}
	tw.Flush()
}

// Rate writes records per second, rounded, in groups of three digits.
func Rate(v float64) string { return Thousands(int64(v + 0.5)) }

// Thousands writes n with commas between groups of three digits.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// CPUModel is the processor's name from /proc/cpuinfo, or GOARCH.
func CPUModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
