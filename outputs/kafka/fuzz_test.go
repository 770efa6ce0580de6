package kafka

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/privtrail/privtrail/entra"
)

// FuzzEncode feeds arbitrary ids, user names, monitor ids and documents
// through the encoder: the item always splits back into the user's key,
// the headers for the record and the enriched record, verbatim.
func FuzzEncode(f *testing.F) {
	f.Add("d7a3c5e1-2222-4B4B-8d8d-abcdefabcdef", "Adm_Alice@contoso.example", "signin.legacy_auth", `{"category":"SignInLogs"}`, true)
	f.Add("", "a\"b\\c\n\u2028\x00", "x,y", "not json at all", false)
	f.Add("\xff\xfe", "\xed\xa0\x80", "", `{"time":"2024-01-01T00:00:00Z","category":"AuditLogs"}`, true)
	f.Add("", "", "", "", false)
	f.Add(strings.Repeat("k", 300), "", "m", `[1,2,3]`, true)
	f.Add("5F1C7A2E-3b9d", "adm_grace@contoso.example", "review.unused_privileged_account",
		`{"id":"d","recordType":"privilegedUser","scanDateTime":"2026-12-04T12:00:00Z","tenantId":"t","userId":"U","userPrincipalName":"a@b","accountEnabled":true}`, true)
	f.Fuzz(func(t *testing.T, id, upn, monitor, raw string, headers bool) {
		var recs []*entra.Record
		var d entra.Decoder
		doc, err := json.Marshal(map[string]any{
			"id": raw, "createdDateTime": "2024-03-13T19:15:41.6195833Z",
			"userPrincipalName": upn, "userId": id, "appDisplayName": raw,
			"status": map[string]any{"errorCode": 0},
		})
		if err != nil {
			t.Fatal(err)
		}
		rec := &entra.Record{}
		if err := d.Decode(doc, rec); err != nil {
			t.Fatalf("decode %s: %v", doc, err)
		}
		recs = append(recs, rec)
		if rec2 := (&entra.Record{}); d.Decode([]byte(raw), rec2) == nil {
			recs = append(recs, rec2)
		}
		recs = append(recs, &entra.Record{Raw: []byte(raw), Stream: entra.Stream(raw), ID: raw})
		for _, r := range recs {
			r.Actor.Privileged = len(upn)%2 == 0
			r.Actor.Emergency = len(id)%2 == 1
			if monitor != "" {
				r.Hits = []entra.Hit{{ID: monitor, Risk: raw}, {ID: upn, Risk: "high"}}
			}
		}
		for i, key := range []string{KeyUser, KeySubject, KeyNone} {
			// Each key once with the diagnostic envelope: the value is then
			// the envelope for a Graph record that has one.
			envelope := entra.EnvelopeAsRead
			if i == 0 {
				envelope = entra.EnvelopeDiagnostic
			}
			enc := &Encoder{Key: key, Headers: headers, Envelope: envelope}
			for _, r := range recs {
				enriched := r.AppendJSON(nil)
				value := enriched
				if envelope == entra.EnvelopeDiagnostic && r.CanEnvelope() {
					value = r.AppendDiagnosticJSON(nil)
					if !json.Valid(value) {
						t.Fatalf("the envelope is not JSON: %q", value)
					}
				}
				for _, in := range [][]byte{enriched, nil} {
					item, err := enc.Encode([]byte("x"), r, in)
					if err != nil {
						t.Fatalf("encode: %v", err)
					}
					m, err := DecodeItem(item[1:])
					if err != nil {
						t.Fatalf("decode %x: %v", item, err)
					}
					if !bytes.Equal(m.Value, value) {
						t.Fatalf("value %q, want %q", m.Value, value)
					}
					if !utf8.Valid(m.Value) {
						t.Fatalf("value is not valid UTF-8: %q", m.Value)
					}
					wantKey := ""
					switch key {
					case KeyUser:
						wantKey = UserKey(r)
					case KeySubject:
						wantKey = SubjectKey(r)
					}
					if string(m.Key) != wantKey || (wantKey == "") != (m.Key == nil) {
						t.Fatalf("key %q, want %q", m.Key, wantKey)
					}
					got := map[string]string{}
					for _, h := range m.Headers {
						if _, dup := got[h.Name]; dup {
							t.Fatalf("header %s twice", h.Name)
						}
						got[h.Name] = string(h.Value)
					}
					if !headers {
						if len(m.Headers) != 0 {
							t.Fatalf("headers %v with headers off", got)
						}
						continue
					}
					if got[HeaderStream] != string(r.Stream) || got[HeaderPrivileged] == "" {
						t.Fatalf("headers %v", got)
					}
					if _, ok := got[HeaderEmergency]; ok != r.Actor.Emergency {
						t.Fatalf("headers %v, emergency %v", got, r.Actor.Emergency)
					}
					if monitor != "" && got[HeaderMonitors] != monitor+","+upn {
						t.Fatalf("monitors header %q", got[HeaderMonitors])
					}
				}
			}
		}
	})
}

// FuzzDecodeItem: any bytes either fail to decode or decode to slices of
// the input that frame it again to the same message.
func FuzzDecodeItem(f *testing.F) {
	good, _ := (&Encoder{Key: KeyUser, Headers: true}).Encode(nil, &entra.Record{Raw: []byte(`{"a":1}`), ID: "R", Stream: "signin", Hits: []entra.Hit{{ID: "m"}}}, nil)
	f.Add(good)
	f.Add([]byte{itemVersion, 0, 0})
	f.Add([]byte{itemVersion, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Add([]byte{itemVersion, 1, 'k', 1, 1, 'a', 1, 'b', '{', '}'})
	f.Fuzz(func(t *testing.T, item []byte) {
		m, err := DecodeItem(item)
		if err != nil {
			return
		}
		again := []byte{itemVersion}
		again = binary.AppendUvarint(again, uint64(len(m.Key)))
		again = append(again, m.Key...)
		again = binary.AppendUvarint(again, uint64(len(m.Headers)))
		for _, h := range m.Headers {
			again = appendHeader(again, h.Name, string(h.Value))
		}
		again = append(again, m.Value...)
		m2, err := DecodeItem(again)
		if err != nil {
			t.Fatalf("re-framed item does not decode: %v", err)
		}
		if !bytes.Equal(m2.Key, m.Key) || !bytes.Equal(m2.Value, m.Value) || len(m2.Headers) != len(m.Headers) {
			t.Fatalf("round trip changed the message: %+v %+v", m, m2)
		}
		for i := range m.Headers {
			if m.Headers[i].Name != m2.Headers[i].Name || !bytes.Equal(m.Headers[i].Value, m2.Headers[i].Value) {
				t.Fatalf("header %d changed", i)
			}
		}
	})
}
