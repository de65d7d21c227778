package proc

import (
	"encoding/json"
	"testing"
)

// The actor's JSON is a contract with scripts and the SIEM: this pins its field names.
func TestActorJSONShape(t *testing.T) {
	a := &Actor{Attribution: AttrKernel, PID: 42,
		Process:   &Process{PID: 42, PPID: 7, Name: "chmod", Exe: "/usr/bin/chmod", Args: []string{"chmod", "+x", "f"}, UID: 1000, EUID: 1000, GID: 1000, EGID: 1000, LoginUID: 1000, SessionID: 3},
		Ancestors: []Process{{PID: 7, PPID: 1, Name: "bash", Exe: "/usr/bin/bash", UID: 1000, EUID: 1000, GID: 1000, EGID: 1000, LoginUID: 1000, SessionID: 3}}}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"attribution":"kernel","pid":42,` +
		`"process":{"pid":42,"ppid":7,"name":"chmod","exe":"/usr/bin/chmod","args":["chmod","+x","f"],"start_ticks":0,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"loginuid":1000,"sessionid":3},` +
		`"ancestors":[{"pid":7,"ppid":1,"name":"bash","exe":"/usr/bin/bash","start_ticks":0,"uid":1000,"euid":1000,"gid":1000,"egid":1000,"loginuid":1000,"sessionid":3}]}`
	if string(b) != want {
		t.Errorf("actor JSON\n got %s\nwant %s", b, want)
	}
	var back Actor
	if err := json.Unmarshal(b, &back); err != nil || back.Parent() == nil || back.Parent().PID != 7 || !back.Known() {
		t.Errorf("round trip: %v %+v", err, back)
	}
	if n := Nobody(); n.Known() || n.Parent() != nil || n.Attribution != AttrNone {
		t.Errorf("Nobody: %+v", n)
	}
	if b, _ := json.Marshal(Nobody()); string(b) != `{"attribution":"none"}` {
		t.Errorf("Nobody JSON %s", b)
	}
}
