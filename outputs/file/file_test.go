package file

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/tmpfs"
)

func decoded(t *testing.T, docs ...string) *batch.Batch {
	t.Helper()
	var dec entra.Decoder
	b := &batch.Batch{}
	for _, d := range docs {
		rec := &entra.Record{}
		if err := dec.Decode([]byte(d), rec); err != nil {
			t.Fatal(err)
		}
		rec.Hits = []entra.Hit{{ID: "breakglass.signin", Title: "t", Risk: "high", Source: "signin", Reason: "upn=x"}}
		b.Records = append(b.Records, rec)
	}
	return b
}

const doc = `{
  "id": "1", "createdDateTime": "2026-03-02T08:00:00.1234567Z",
  "userPrincipalName": "breakglass1@contoso.example", "userId": "u1",
  "status": {"errorCode": 0}, "isInteractive": true
}`

func TestAppendsJSONLinesAndAcks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "out.jsonl")
	o, err := New(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	for range 2 {
		b := decoded(t, doc, doc)
		b.Arm(1, 1, func(uint64) { acked++ })
		if err := o.Consume(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if acked != 2 {
		t.Fatalf("acked %d batches, want 2", acked)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4 (a pretty-printed record must become one line)", len(lines))
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		pt, _ := m["privtrail"].(map[string]any)
		if pt == nil || m["userPrincipalName"] != "breakglass1@contoso.example" {
			t.Fatalf("line lacks the original fields or the privtrail object: %s", l)
		}
	}
}

func TestPrefersTheRunnersEncoding(t *testing.T) {
	var buf bytes.Buffer
	o := NewStdout(&buf)
	b := decoded(t, doc)
	b.JSON = [][]byte{[]byte(`{"pre":"encoded"}`)}
	b.Arm(1, 1, func(uint64) {})
	if err := o.Consume(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "{\"pre\":\"encoded\"}\n" {
		t.Fatalf("stdout got %q", buf.String())
	}
}

func TestUnwritablePathIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Path: filepath.Join(dir, "file", "out.jsonl")}); err == nil {
		t.Fatal("want an error for a path under a regular file")
	}
	if err := (&Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "path") {
		t.Fatalf("Validate() = %v, want a path error", err)
	}
}

// Writing to /dev/null (privtrail replay -o /dev/null) must not try to
// fsync a device, which fails and would retry the batch forever.
func TestDeviceIsNotSynced(t *testing.T) {
	o, err := New(Config{Path: os.DevNull})
	if err != nil {
		t.Fatal(err)
	}
	b := decoded(t, doc)
	acked := false
	b.Arm(1, 1, func(uint64) { acked = true })
	if err := o.Consume(context.Background(), b); err != nil || !acked {
		t.Fatalf("Consume to %s: %v, acked %v", os.DevNull, err, acked)
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A fault probe's record whose user name holds bytes that are not UTF-8:
// the line is valid UTF-8 JSON, the bytes are U+FFFD, and the privtrail
// object says it replaced them.
func TestInvalidUTF8IsReplaced(t *testing.T) {
	var buf bytes.Buffer
	o := NewStdout(&buf)
	b := decoded(t, strings.Replace(doc, "breakglass1@", "\xff\xfe\xc3(@", 1))
	b.Arm(1, 1, func(uint64) {})
	if err := o.Consume(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	line := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if !utf8.Valid(line) || !json.Valid(line) || bytes.IndexByte(line, '\n') >= 0 {
		t.Fatalf("not one line of valid UTF-8 JSON: %q", line)
	}
	var v struct {
		UPN       string `json:"userPrincipalName"`
		Privtrail struct {
			Replaced bool `json:"replaced_invalid_utf8"`
		} `json:"privtrail"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		t.Fatal(err)
	}
	if v.UPN != "\uFFFD\uFFFD\uFFFD(@contoso.example" || !v.Privtrail.Replaced {
		t.Errorf("line %s", line)
	}
}

// The disk under the output fills in the middle of the stream, as the
// faults issue reproduced it: the failed batch leaves no partial line,
// the runner's retry after space returns writes it whole, and at the end
// every line is valid JSON and every record is there exactly once.
func TestFullDiskLeavesEveryLineWhole(t *testing.T) {
	disk := tmpfs.Mount(t, 4<<20)
	path := filepath.Join(disk.Dir, "out.jsonl")
	o, err := New(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("p", 1500)
	batchOf := func(n int) *batch.Batch {
		var docs []string
		for i := range 40 {
			docs = append(docs, fmt.Sprintf(`{"id":"%d-%d","createdDateTime":"2026-03-02T08:00:00Z","userPrincipalName":"u@contoso.example","userId":"u","status":{"errorCode":0},"appDisplayName":%q}`, n, i, pad))
		}
		return decoded(t, docs...)
	}
	failed := 0
	for n := range 12 {
		b := batchOf(n)
		if n == 3 {
			disk.Fill()
		}
		for o.Consume(context.Background(), b) != nil {
			if failed++; failed > 3 {
				t.Fatal("writes still fail after space returned")
			}
			// What a tailing reader sees while the disk is full.
			assertWholeLines(t, path)
			disk.Free()
		}
	}
	o.Close(context.Background())
	if failed == 0 {
		t.Fatal("no write failed: the disk never filled")
	}
	ids := assertWholeLines(t, path)
	if len(ids) != 12*40 {
		t.Errorf("%d records in the file, want %d", len(ids), 12*40)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("record %s written twice", id)
		}
		seen[id] = true
	}
}

// assertWholeLines checks that the file is complete JSON lines and returns
// their ids.
func assertWholeLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("the file ends in a partial line: %.60q", data[max(0, len(data)-60):])
	}
	var ids []string
	for _, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var rec struct{ ID string }
		if err := json.Unmarshal(l, &rec); err != nil {
			t.Fatalf("a line is not JSON (%v): %.80q", err, l)
		}
		ids = append(ids, rec.ID)
	}
	return ids
}

// Every stream is written the same way: the original document and the
// privtrail object, whose stream and category say what it is. Records
// of the ID Protection, Graph activity and other streams need nothing
// else.
func TestEveryStreamIsOneLine(t *testing.T) {
	docs := map[string]string{
		"risk":          `{"time":"2026-03-02T23:21:40.517Z","category":"UserRiskEvents","operationName":"User Risk Detection","properties":{"id":"d1","riskEventType":"anonymizedIPAddress","riskLevel":"high","riskState":"atRisk","userId":"u1","userPrincipalName":"adm_alice@contoso.example","detectedDateTime":"2026-03-02T23:19:58.133Z"}}`,
		"graphactivity": `{"time":"2026-03-02T23:30:12.6442361Z","category":"MicrosoftGraphActivityLogs","operationName":"Microsoft Graph Activity","properties":{"requestId":"r1","requestMethod":"POST","requestUri":"https://graph.microsoft.com/v1.0/roleManagement/directory/roleAssignments","responseStatusCode":201,"userId":"u1"}}`,
		"other":         `{"time":"2022-08-23T13:36:50.3538931Z","category":"ProvisioningLogs","operationName":"Provisioning activity","properties":{"id":"p1","provisioningAction":"create"}}`,
	}
	var dec entra.Decoder
	var buf bytes.Buffer
	o := NewStdout(&buf)
	b := &batch.Batch{}
	for _, d := range docs {
		rec := &entra.Record{}
		if err := dec.Decode([]byte(d), rec); err != nil {
			t.Fatal(err)
		}
		b.Records = append(b.Records, rec)
	}
	if err := o.Consume(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(docs) {
		t.Fatalf("%d lines for %d records", len(lines), len(docs))
	}
	for i, l := range lines {
		var m struct {
			Category  string `json:"category"`
			Privtrail struct {
				Stream   string `json:"stream"`
				Category string `json:"category"`
			} `json:"privtrail"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		rec := b.Records[i]
		if m.Privtrail.Stream != string(rec.Stream) || m.Privtrail.Category != m.Category || m.Category != rec.LogCategory ||
			l != string(rec.AppendJSON(nil)) {
			t.Errorf("line %s for a %s record of %s", l, rec.Stream, rec.LogCategory)
		}
		if _, ok := docs[m.Privtrail.Stream]; !ok {
			t.Errorf("stream %q", m.Privtrail.Stream)
		}
	}
}
