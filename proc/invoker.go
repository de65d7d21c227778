package proc

import (
	"fmt"
	"os"
	"os/user"
)

// Invoker says who runs this process, for the records it makes: "root (uid 0) via sudo from
// alice". The name is the uid's in the user database, else the number; sudo's SUDO_USER is named
// when set.
func Invoker() string {
	uid := os.Getuid()
	name := fmt.Sprint(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	s := fmt.Sprintf("%s (uid %d)", name, uid)
	if su := os.Getenv("SUDO_USER"); su != "" {
		s += " via sudo from " + su
	}
	return s
}
