package report

// AppendJSONString appends s as a JSON string, as encoding/json writes it (with HTML escaping,
// its default): for the writers that build JSON documents straight into a buffer, such as
// investigate's history listing, byte for byte what encoding/json would write.
func AppendJSONString(b []byte, s string) []byte { return appendJSONString(b, s) }
