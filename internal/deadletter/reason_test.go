package deadletter_test

import (
	"strings"
	"testing"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/deadletter"
)

// A record that is a 10,000-deep JSON array: the parser's error repeats
// "cannot parse array value: " for 14 KB. The reason the runner logs and
// writes is cut to its start and end and still says what went wrong; the
// dead-letter line, which any JSON reader can read, keeps the record
// whole.
func TestDeepArrayReason(t *testing.T) {
	data := []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000))
	var d entra.Decoder
	var rec entra.Record
	err := d.Decode(data, &rec)
	if err == nil {
		t.Fatal("a 10,000-deep array decoded")
	}
	reason := err.Error()
	if len(reason) > deadletter.MaxReason {
		t.Errorf("reason is %d bytes, over %d: %q", len(reason), deadletter.MaxReason, reason)
	}
	for _, want := range []string{"invalid JSON: cannot parse JSON: cannot parse array", "…", "too big depth for the nested JSON; it exceeds 300"} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q does not say %q", reason, want)
		}
	}

	e := deadletter.WriteOne(t, reason, data)
	if e.Reason != reason {
		t.Errorf("dead-letter reason %q, want %q", e.Reason, reason)
	}
	// Too deep to nest in the entry (encoding/json reads 10,000 levels, the
	// entry's object is one more): kept as raw_text.
	if e.Record != nil || e.RawText != string(data) {
		t.Errorf("the record was not kept whole as raw_text: record %d bytes, raw_text %d bytes of %d", len(e.Record), len(e.RawText), len(data))
	}
}
