package entra

import "testing"

func benchDecode(b *testing.B, name string) {
	var data []byte
	for _, doc := range loadSamples(b, localSamplesDir) {
		if doc.name == name {
			data = doc.data
		}
	}
	if data == nil {
		b.Fatalf("sample %s not found", name)
	}
	benchDecodeData(b, data)
}

func benchDecodeData(b *testing.B, data []byte) {
	var d Decoder
	var rec Record
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := d.Decode(data, &rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSignIn decodes the real Event Hubs SignInLogs record
// (one line, 3.9 kB).
func BenchmarkDecodeSignIn(b *testing.B) {
	benchDecode(b, "splunk_security_content_aad_eventhub_records.jsonl#11")
}

// BenchmarkDecodeAudit decodes the real "Add member to role" AuditLogs
// record (one line, 1.7 kB).
func BenchmarkDecodeAudit(b *testing.B) {
	benchDecode(b, "splunk_security_content_aad_eventhub_records.jsonl#1")
}

// BenchmarkDecodeOther decodes a record of a category without a model
// (the first public ProvisioningLogs record, 2.6 kB): it must cost no
// more than a sign-in.
func BenchmarkDecodeOther(b *testing.B) {
	benchDecodeData(b, readRecords(b, "testdata/samples/categories/elastic_ProvisioningLogs.jsonl")[0])
}

// BenchmarkDecodeRisk decodes a public UserRiskEvents record (1.9 kB).
func BenchmarkDecodeRisk(b *testing.B) {
	benchDecodeData(b, readRecords(b, "testdata/samples/categories/elastic_UserRiskEvents.jsonl")[0])
}

// BenchmarkDecodeGraphActivity decodes a public MicrosoftGraphActivityLogs
// record.
func BenchmarkDecodeGraphActivity(b *testing.B) {
	benchDecodeData(b, readRecords(b, "testdata/samples/categories/elastic_MicrosoftGraphActivityLogs.jsonl")[1])
}

func BenchmarkAppendJSON(b *testing.B) {
	r := sampleByName(b, "splunk_security_content_aad_eventhub_records.jsonl#1")
	enrichAuditRole(r)
	buf := r.AppendJSON(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
}
