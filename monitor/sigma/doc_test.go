package sigma

import (
	"slices"
	"testing"

	"github.com/privtrail/privtrail/entra"
)

// The text reader's candidates are a sound prefilter: when it is sure,
// the parsed member's value is among them (or there is none), whatever
// else the document holds under the same name.
func TestRawCandidates(t *testing.T) {
	proto, nld := rawSlot("authenticationProtocol"), rawSlot("networkLocationDetails")
	for _, c := range []struct {
		name  string
		slot  int
		shape entra.Shape
		doc   string
		sure  bool
		want  string // the parsed value, "" for none
	}{
		{"diagnostic", proto, entra.ShapeDiagnostic, `{"properties":{"authenticationProtocol":"ropc"}}`, true, "ropc"},
		{"graph", proto, entra.ShapeGraph, `{"authenticationProtocol" : "deviceCode"}`, true, "deviceCode"},
		{"nested elsewhere", proto, entra.ShapeGraph, `{"x":{"authenticationProtocol":"ropc"},"authenticationProtocol":"none"}`, true, "none"},
		{"only nested", proto, entra.ShapeGraph, `{"x":{"authenticationProtocol":"ropc"}}`, true, ""},
		{"in a string", proto, entra.ShapeGraph, `{"a":"\"authenticationProtocol\":\"ropc\"","authenticationProtocol":"none"}`, true, "none"},
		{"escaped value", proto, entra.ShapeGraph, `{"authenticationProtocol":"ro\u0070c"}`, false, "ropc"},
		{"escaped name", proto, entra.ShapeGraph, `{"authenticationProtocol":"none","properties":{"authenticationPr\u006ftocol":"ropc"}}`, false, "none"},
		{"null", proto, entra.ShapeGraph, `{"authenticationProtocol":null}`, true, ""},
		{"absent", proto, entra.ShapeGraph, `{"authenticationMethod":"x"}`, true, ""},
		{"compact array", nld, entra.ShapeGraph, `{"networkLocationDetails":[{"networkType":"namedNetwork","networkNames":["HQ"]}]}`, true, `[{"networkType":"namedNetwork","networkNames":["HQ"]}]`},
		{"spaced array", nld, entra.ShapeGraph, `{"networkLocationDetails": [ ]}`, false, `[]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &entra.Record{Raw: []byte(c.doc), Shape: c.shape}
			var d Doc
			cands, sure := d.rawCandidates(r, c.slot)
			vals, _ := d.collect(func(r *entra.Record, d *Doc) { d.rawValue(r, c.slot) }, r)
			got := ""
			if len(vals) > 0 {
				got = vals[0].text()
			}
			if sure != c.sure || got != c.want {
				t.Fatalf("sure %v, value %q; want %v, %q", sure, got, c.sure, c.want)
			}
			if sure && got != "" && !slices.ContainsFunc(cands, func(v value) bool { return v.text() == got }) {
				t.Fatalf("value %q is not among the sure candidates %v", got, cands)
			}
		})
	}
}

// A Doc reused for another record (Reset, or another *entra.Record)
// reads that record, not what it cached.
func TestDocReset(t *testing.T) {
	r := compileOne(t, rule("signinlogs", `
    selection:
        properties.message: ropc
    condition: selection`))
	rec := &entra.Record{Stream: entra.StreamSignIn, Shape: entra.ShapeGraph, Raw: []byte(`{"authenticationProtocol":"ropc"}`)}
	var d Doc
	if !r.MatchDoc(rec, &d) {
		t.Fatal("ropc did not match")
	}
	rec.Raw = []byte(`{"authenticationProtocol":"none"}`)
	d.Reset()
	if r.MatchDoc(rec, &d) {
		t.Fatal("a reset Doc kept the previous document's value")
	}
	other := &entra.Record{Stream: entra.StreamSignIn, Shape: entra.ShapeGraph, Raw: []byte(`{"authenticationProtocol":"ROPC"}`)}
	if !r.MatchDoc(other, &d) {
		t.Fatal("another record read through the same Doc did not match")
	}
}
