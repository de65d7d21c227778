package store

import (
	"os"
	"path/filepath"
)

// DefaultPath is the database's default file: /var/lib/tripline/tripline.db for root, and the
// user's state directory otherwise ($XDG_STATE_HOME, else ~/.local/state), so that tripline works
// unprivileged without touching system paths.
func DefaultPath() string {
	if os.Geteuid() == 0 {
		return "/var/lib/tripline/tripline.db"
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "tripline", "tripline.db")
}
