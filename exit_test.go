package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privtrail/privtrail/internal/logbuf"
	"github.com/privtrail/privtrail/internal/tmpfs"
)

// `privtrail run` stopped by SIGTERM while its data directory is full,
// with batches it could not finish, exits 3 (work left for the next
// start), not 0: a supervisor can tell. A run that ends cleanly exits 0.
func TestRunExitsThreeWhenStoppedWithWorkLeft(t *testing.T) {
	disk := tmpfs.Mount(t, 1<<20)
	dir := t.TempDir()
	var first, rest bytes.Buffer
	for n := range 3000 {
		line := fmt.Sprintf(`{"id":"s-%05d","createdDateTime":"2026-03-02T08:%02d:%02dZ","userId":"u%04d","userPrincipalName":"u%04d@contoso.example","status":{"errorCode":50126}}`+"\n",
			n, n/60%60, n%60, n/3, n/3)
		if n < 300 {
			first.WriteString(line)
		} else {
			rest.WriteString(line)
		}
	}
	pipeline := "name: full\nmonitors:\n  - {id: test.failures, title: t, risk: high, source: signin, when: signin.errorCode == 50126, threshold: {count: 3, window: 10m}}\n"
	files := map[string][]byte{"first.jsonl": first.Bytes(), "rest.jsonl": rest.Bytes(), "full.yaml": []byte(pipeline)}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config := func(input string) string {
		p := filepath.Join(dir, input+".yaml")
		cfg := fmt.Sprintf("data_dir: %s\nhttp: {listen: \"off\"}\ninputs:\n  - {name: exports, file: {paths: [%s], batch_size: 100}}\noutputs:\n  - {name: out, file: {path: out.jsonl}}\npipelines: [full.yaml]\n", disk.Dir, input)
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var stderr logbuf.Buffer
	if code := run([]string{"run", "-c", config("first.jsonl")}, &stderr, &stderr); code != 0 {
		t.Fatalf("a clean run exits %d:\n%s", code, stderr.String())
	}
	disk.Fill()
	exit := make(chan int, 1)
	go func() { exit <- run([]string{"run", "-c", config("rest.jsonl")}, &stderr, &stderr) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "the pipeline waits until it is") {
		if time.Now().After(deadline) {
			t.Fatalf("the full disk never held the pipeline:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != exitUnfinished || !strings.Contains(stderr.String(), "stopped with work left for the next start") {
			t.Errorf("exit %d, want %d with the work left named:\n%s", code, exitUnfinished, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("privtrail did not stop after SIGTERM")
	}
	disk.Free()
	if code := run([]string{"run", "-c", config("rest.jsonl")}, &stderr, &stderr); code != 0 {
		t.Fatalf("the run after space returned exits %d:\n%s", code, stderr.String())
	}
}
